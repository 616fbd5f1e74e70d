import type { Rounding } from './architecture.js';

/**
 * Channel rounding of the reference builders (tensorflow/tpu, Keras): scale, round to the nearest multiple of the
 * divisor (never below one divisor), and add one divisor back when rounding lost more than `1 - minFraction` of the
 * exact value (the "10 % rule"; EfficientNetV2 sets minFraction 0). Integer truncation mirrors Python's `int()`.
 */
export function roundFilters(filters: number, width: number, rounding: Rounding): number {
  const { divisor, minFraction } = rounding;
  const exact = filters * width;
  let rounded = Math.max(divisor, Math.floor(Math.floor(exact + divisor / 2) / divisor) * divisor);
  if (rounded < minFraction * exact) rounded += divisor;
  return rounded;
}

/** Layers per stage: `ceil(repeats · depth)` in double precision, exactly as written (1.2 · 3 = 3.5999… → 4). */
export function roundRepeats(repeats: number, depth: number): number {
  return Math.max(1, Math.ceil(repeats * depth));
}

/** Input resolution scaled by the resolution factor, rounded to the nearest multiple (at least one multiple). */
export function roundResolution(resolution: number, factor: number, rounding: Rounding): number {
  const multiple = rounding.resolutionMultiple;
  return Math.max(multiple, Math.round((resolution * factor) / multiple) * multiple);
}
