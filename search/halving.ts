import type { PlannedTraining, TrainingRecord, BestCandidate } from './types.js';
import { withinCostLimits, type CostLimits } from './limits.js';
import { ranksBefore } from './ranking.js';

/**
 * Asynchronous successive halving (ASHA, Li et al. 2020) over a chunk's trainings. Rung k trains a candidate to
 * `rungs[k]` epochs; a candidate that finished rung k is promoted to rung k + 1 as soon as it is among the best
 * 1/η of every candidate that finished rung k so far, so a free slot never waits for a rung to fill. Once no
 * candidate can still reach rung k, its best is promoted even when fewer than η finished it, so a finite grid
 * always trains someone through the last rung. With one rung (the exhaustive strategy) nothing is promoted.
 * Under selection max-under, candidates over its cost limits stop at rung 0: they could never be chosen.
 */

export interface Promotion {
  training: PlannedTraining;
  /** The rung it is promoted to. */
  rung: number;
}

/** The finished rungs of a record: its scores, one per rung. */
export function scoresOf(record: Pick<TrainingRecord, 'scores'> | undefined): number[] {
  return record?.scores ?? [];
}

/**
 * A training as it ranks: scored at the last rung it finished, with that rung's seeds; undefined before its first.
 * The chunk's leaders and the select step both read candidates this way.
 */
export function atLastRung(
  t: PlannedTraining,
  record: Pick<TrainingRecord, 'scores' | 'samples'> | undefined,
): (BestCandidate & { params?: number }) | undefined {
  const scores = scoresOf(record);
  if (!scores.length) return undefined;
  return {
    alpha: t.alpha,
    beta: t.beta,
    gamma: t.gamma,
    score: scores[scores.length - 1],
    rung: scores.length - 1,
    ...(record?.samples && { samples: record.samples }),
    macs: t.macs,
    ...(t.params !== undefined && { params: t.params }),
    index: t.index,
    group: t.group,
  };
}

/** The next promotion, from the highest rung down (ASHA's order), or undefined when none is due. */
export function nextPromotion(
  trainings: readonly PlannedTraining[],
  records: ReadonlyMap<string, TrainingRecord>,
  rungs: number,
  eta: number,
  higherIsBetter: boolean,
  limits?: CostLimits,
): Promotion | undefined {
  for (let k = rungs - 2; k >= 0; k--) {
    // A candidate that can never be chosen (selection max-under) is neither promoted nor counted in a rung's quota.
    const finished = trainings
      .filter((t) => withinCostLimits(t, limits) && scoresOf(records.get(t.group)).length > k)
      .map((t) => ({ t, ranked: { ...t, score: scoresOf(records.get(t.group))[k] } }))
      .sort((a, b) => (ranksBefore(a.ranked, b.ranked, higherIsBetter) ? -1 : 1));
    const quota = Math.floor(finished.length / eta);
    const top = finished.slice(0, closed(trainings, records, k) ? Math.max(1, quota) : quota);
    const due = top.find(({ t }) => {
      const r = records.get(t.group);
      return r?.state === 'succeeded' && scoresOf(r).length === k + 1;
    });
    if (due) return { training: due.t, rung: k + 1 };
  }
  return undefined;
}

/** No candidate is training towards rung k or below, or waiting to: rung k has all the results it will get. */
function closed(
  trainings: readonly PlannedTraining[],
  records: ReadonlyMap<string, TrainingRecord>,
  k: number,
): boolean {
  return trainings.every((t) => {
    const r = records.get(t.group);
    return !r || !(r.state === 'pending' || r.state === 'running') || (r.rung ?? 0) > k;
  });
}

/** Per rung: candidates that finished it and candidates training to it now. */
export interface RungCounts {
  epochs: number;
  finished: number;
  running: number;
}

export function rungCounts(records: Iterable<TrainingRecord>, rungs: readonly number[]): RungCounts[] {
  const counts = rungs.map((epochs) => ({ epochs, finished: 0, running: 0 }));
  for (const r of records) {
    for (let k = 0; k < scoresOf(r).length && k < counts.length; k++) counts[k].finished++;
    if (r.state === 'running') counts[r.rung ?? 0].running++;
  }
  return counts;
}

export function addRungCounts(a: readonly RungCounts[], b: readonly RungCounts[]): RungCounts[] {
  const longer = a.length >= b.length ? a : b;
  return longer.map((r, k) => ({
    epochs: r.epochs,
    finished: (a[k]?.finished ?? 0) + (b[k]?.finished ?? 0),
    running: (a[k]?.running ?? 0) + (b[k]?.running ?? 0),
  }));
}
