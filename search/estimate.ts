import { durationSeconds, repeatsOf, rungEpochs, type SearchSpec } from '../schemas/search.js';

/** Images a training sees per epoch: the training split, and the validation split it is scored on. */
export interface DatasetSize {
  train: number;
  validation: number;
}

/**
 * What a search will cost before anything is launched. Work is counted in epoch × multiply-adds per image (the
 * cost model is exact), seconds come from a throughput: the spec's `execution.throughput`, else the figure the
 * last finished search of this worker store measured. One training occupies one device (GPU or local trainer).
 */

/** Forward-pass equivalents of one epoch: about 3 per training image (forward and backward), 1 per validation image. */
export function imagesPerEpoch(size: DatasetSize): number {
  return 3 * size.train + size.validation;
}

/** The epochs one training is expected to take: under halving, rung k is reached by 1/η^k of the trainings. */
export function expectedEpochs(rungs: readonly number[], eta: number): number {
  return rungs.reduce((sum, epochs, k) => sum + (epochs - (k ? rungs[k - 1] : 0)) / eta ** k, 0);
}

/** The epochs each distinct candidate is expected to train, over all its seeds (`task.repeats`). */
export function epochsPerTraining(spec: SearchSpec): number {
  return expectedEpochs(rungEpochs(spec), spec.scaling.grid.halving.eta) * repeatsOf(spec);
}

export interface Throughput {
  /** Multiply-adds per second one training sustains, startup and validation included. */
  macsPerSecond: number;
  source: string;
}

export interface Estimate {
  /** Expected epoch × multiply-adds per image over the planned trainings; `worst` if every one trained all rungs. */
  work: number;
  worst: number;
  imagesPerEpoch: number;
  throughput: Throughput | null;
  /** Device-seconds and wall seconds at the spec's parallelism; null without a throughput. */
  deviceSeconds: number | null;
  wallSeconds: number | null;
}

export function estimate(
  spec: SearchSpec,
  macs: readonly number[],
  size: DatasetSize,
  throughput: Throughput | null,
): Estimate {
  const rungs = rungEpochs(spec);
  const total = macs.reduce((a, b) => a + b, 0);
  const work = total * epochsPerTraining(spec);
  const images = imagesPerEpoch(size);
  const deviceSeconds = throughput ? (work * images) / throughput.macsPerSecond : null;
  const trainings = Math.max(1, Math.min(spec.execution.parallelism, macs.length));
  return {
    work,
    worst: total * rungs[rungs.length - 1] * repeatsOf(spec),
    imagesPerEpoch: images,
    throughput,
    deviceSeconds,
    wallSeconds: deviceSeconds === null ? null : deviceSeconds / trainings,
  };
}

/** What a finished search records about its trainings' speed, for the next search's estimate. */
export interface MeasuredThroughput {
  executor: string;
  macsPerSecond: number;
  at: string;
}

/** Refuses a plan whose estimate is over `execution.budget`, unless the budget says to proceed. */
export function checkBudget(spec: SearchSpec, e: Estimate): string | null {
  const budget = spec.execution.budget;
  if (!budget || budget.proceed || e.deviceSeconds === null || e.wallSeconds === null) return null;
  const over: string[] = [];
  if (budget.gpuHours !== undefined && e.deviceSeconds / 3600 > budget.gpuHours)
    over.push(`${hours(e.deviceSeconds)} device-hours, over execution.budget.gpuHours ${budget.gpuHours}`);
  if (budget.wallTime !== undefined && e.wallSeconds > durationSeconds(budget.wallTime))
    over.push(`${hours(e.wallSeconds)} hours of wall time, over execution.budget.wallTime ${budget.wallTime}`);
  if (!over.length) return null;
  return (
    `the plan estimates ${over.join(' and ')} (at ${(e.throughput?.macsPerSecond ?? 0) / 1e9} GMAC/s, ` +
    `${e.throughput?.source}): shrink the grid, use scaling.grid.strategy: halving, raise the budget, or start ` +
    `anyway with --over-budget (execution.budget.proceed)`
  );
}

/** Seconds as hours to 3 significant digits: how every estimate, spend and budget reads, from 0.000833 to 1,230. */
export function hours(seconds: number): string {
  return Intl.NumberFormat('en', { maximumSignificantDigits: 3 }).format(seconds / 3600);
}
