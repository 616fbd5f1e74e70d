/**
 * Scores under training noise. With `task.repeats` > 1 every candidate trains once per seed; its score is the mean
 * and its spread the sample standard deviation. Two candidates are statistically tied when Welch's t-test cannot
 * tell their means apart at the 5 % level (two-sided). Pure and deterministic: the workflow and the activities
 * share it.
 */

export function mean(samples: readonly number[]): number {
  return samples.reduce((a, b) => a + b, 0) / samples.length;
}

/** The sample standard deviation; undefined for fewer than two samples (the noise is unknown). */
export function spreadOf(samples: readonly number[] | undefined): number | undefined {
  if (!samples || samples.length < 2) return undefined;
  const m = mean(samples);
  return Math.sqrt(samples.reduce((sum, x) => sum + (x - m) ** 2, 0) / (samples.length - 1));
}

/** A score's spread as a field of a row or document, absent when the noise is unknown. */
export function spreadField(samples: readonly number[] | undefined): { spread?: number } {
  const spread = spreadOf(samples);
  return spread === undefined ? {} : { spread };
}

/** Two-sided 95 % critical values of Student's t for 1…30 degrees of freedom. */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t(0.975, df); a fractional df is rounded down (the larger, more cautious value); beyond 30 within 0.002. */
export function tCritical95(df: number): number {
  const d = Math.max(1, Math.floor(df));
  return d <= T95.length ? T95[d - 1] : 1.96 + 2.5 / d;
}

export interface Scored {
  score: number;
  samples?: readonly number[];
}

/**
 * Whether a and b are statistically tied (Welch's t-test, 95 %); undefined when either has fewer than two seeds.
 * Identical seeds on both sides (no spread at all) tie only on equal means.
 */
export function tied(a: Scored, b: Scored): boolean | undefined {
  const sa = spreadOf(a.samples);
  const sb = spreadOf(b.samples);
  if (sa === undefined || sb === undefined || !a.samples || !b.samples) return undefined;
  const va = sa ** 2 / a.samples.length;
  const vb = sb ** 2 / b.samples.length;
  const diff = Math.abs(a.score - b.score);
  if (va + vb === 0) return diff === 0;
  const df = (va + vb) ** 2 / (va ** 2 / (a.samples.length - 1) + vb ** 2 / (b.samples.length - 1));
  return diff / Math.sqrt(va + vb) < tCritical95(df);
}
