import { z } from 'zod';
import type { Architecture } from './architecture.js';
import { roundFilters, roundRepeats, roundResolution } from './rounding.js';
import { SpecError } from './validate.js';

/** Equation 3 (exponential: d = α^φ, …) or equation 4 (linear: d = 1 + α·φ, …). */
export const ScalingRule = z.enum(['exponential', 'linear']);
export type ScalingRule = z.infer<typeof ScalingRule>;

/** Multipliers applied to the baseline: layers per stage, channels per layer, input resolution. */
export interface ScalingFactors {
  depth: number;
  width: number;
  resolution: number;
}

/** The baseline coefficients found by the grid search: α (depth), β (width), γ (resolution). */
export const Coefficients = z
  .object({
    alpha: z.number().positive().describe('depth coefficient α'),
    beta: z.number().positive().describe('width coefficient β'),
    gamma: z.number().positive().describe('resolution coefficient γ'),
  })
  .strict();
export type Coefficients = z.infer<typeof Coefficients>;

export function scalingFactors(rule: ScalingRule, c: Coefficients, phi: number): ScalingFactors {
  const factor =
    rule === 'exponential' ? (coefficient: number) => coefficient ** phi : (slope: number) => 1 + slope * phi;
  const factors = { depth: factor(c.alpha), width: factor(c.beta), resolution: factor(c.gamma) };
  for (const [dimension, value] of Object.entries(factors)) {
    if (!(value > 0) || !Number.isFinite(value)) {
      throw new SpecError(
        `the ${rule} rule at phi=${phi} gives a ${dimension} factor of ${value}; factors must be positive and finite`,
      );
    }
  }
  return factors;
}

/** The resource multiplier d·w²·r² that the compound constraint keeps close to 2^φ. */
export function costMultiplier(f: ScalingFactors): number {
  return f.depth * f.width * f.width * f.resolution * f.resolution;
}

/**
 * The baseline scaled by the factors with the reference rounding: every stage's repeats by ceil, every channel
 * count (stem, stage input/output filters, head) by the filter rule, the resolution to its configured multiple.
 */
export function scaleArchitecture(baseline: Architecture, f: ScalingFactors): Architecture {
  const { rounding } = baseline;
  const filters = (n: number) => roundFilters(n, f.width, rounding);
  return {
    ...baseline,
    resolution: roundResolution(baseline.resolution, f.resolution, rounding),
    stem: { ...baseline.stem, filters: filters(baseline.stem.filters) },
    stages: baseline.stages.map((stage) => ({
      ...stage,
      repeats: roundRepeats(stage.repeats, f.depth),
      filters: filters(stage.filters),
      ...(stage.inputFilters === undefined ? {} : { inputFilters: filters(stage.inputFilters) }),
    })),
    head: { filters: baseline.head.filters === 0 ? 0 : filters(baseline.head.filters) },
    batchNorm: { ...baseline.batchNorm },
    rounding: { ...rounding },
  };
}

/** A stable key of everything the scaling changes: equal keys mean the same network to train. */
export function architectureKey(arch: Architecture): string {
  const stages = arch.stages.map(
    (s) =>
      `${s.op}/${s.repeats}/${s.kernel}/${s.stride}/${s.expandRatio}/${s.inputFilters ?? ''}/${s.filters}/${s.seRatio}/${s.skip ? 1 : 0}`,
  );
  return `${arch.resolution}|${arch.stem.filters}|${stages.join(',')}|${arch.head.filters}|${arch.classes}`;
}

/**
 * The part of architectureKey that scaling changes, computed without building the architecture: two scalings of
 * the same baseline give the same network exactly when these keys are equal (the grid's hot path).
 */
export function scalingKey(baseline: Architecture, f: ScalingFactors): string {
  const { rounding } = baseline;
  let key = `${roundResolution(baseline.resolution, f.resolution, rounding)}|${roundFilters(baseline.stem.filters, f.width, rounding)}`;
  for (const stage of baseline.stages) {
    key += `|${roundRepeats(stage.repeats, f.depth)}/${roundFilters(stage.filters, f.width, rounding)}`;
    if (stage.inputFilters !== undefined) key += `/${roundFilters(stage.inputFilters, f.width, rounding)}`;
  }
  return baseline.head.filters === 0 ? key : `${key}|${roundFilters(baseline.head.filters, f.width, rounding)}`;
}
