import type { Architecture } from './architecture.js';
import { architectureTotals } from './cost.js';
import { scaleArchitecture, type ScalingFactors } from './scale.js';

/**
 * The single-dimension counterparts of a compound-scaled network (the EfficientNet paper's Table 3): the baseline
 * scaled along depth only, width only or resolution only until its rounded architecture really costs what the
 * compound member costs. Rounding makes the real cost a step function of the factor; each arm takes the step
 * closest to the target.
 */

export type AblationDimension = keyof ScalingFactors;
export const ABLATION_DIMENSIONS: readonly AblationDimension[] = ['depth', 'width', 'resolution'];

export interface SingleDimensionScaling {
  dimension: AblationDimension;
  factors: ScalingFactors;
  architecture: Architecture;
  macs: number;
}

const ITERATIONS = 48;
const MAX_FACTOR = 1024;

function scaledAlong(baseline: Architecture, dimension: AblationDimension, factor: number) {
  const factors = { depth: 1, width: 1, resolution: 1, [dimension]: factor };
  const architecture = scaleArchitecture(baseline, factors);
  return { dimension, factors, architecture, macs: architectureTotals(architecture).macs };
}

/** The baseline scaled along one dimension to the real multiply-adds closest to `targetMacs` (≥ the baseline's). */
export function scaleOneDimension(
  baseline: Architecture,
  dimension: AblationDimension,
  targetMacs: number,
): SingleDimensionScaling {
  let lo = scaledAlong(baseline, dimension, 1);
  if (lo.macs >= targetMacs) return lo;
  // Depth scales the stages only (not stem and head), so the factor may need to exceed the cost ratio.
  let hi = scaledAlong(baseline, dimension, 2);
  while (hi.macs < targetMacs && hi.factors[dimension] < MAX_FACTOR) {
    lo = hi;
    hi = scaledAlong(baseline, dimension, hi.factors[dimension] * 2);
  }
  if (hi.macs < targetMacs) return hi;
  for (let i = 0; i < ITERATIONS && hi.factors[dimension] - lo.factors[dimension] > 1e-6; i++) {
    const mid = scaledAlong(baseline, dimension, (lo.factors[dimension] + hi.factors[dimension]) / 2);
    if (mid.macs >= targetMacs) hi = mid;
    else lo = mid;
  }
  return targetMacs - lo.macs <= hi.macs - targetMacs ? lo : hi;
}
