import type { Metric } from '../schemas/task.js';
import type { BestCandidate } from './types.js';

/**
 * The search's one order on scores and candidates. Every comparison of two scores (halving, leaders, selection,
 * the ablation verdict, the report) goes through here, so a metric's direction is decided in one place.
 */

/** Accuracy is maximized; loss-type metrics (error, loss) are minimized. */
export function higherIsBetter(metric: Metric): boolean {
  return metric === 'accuracy';
}

/** How far score a is ahead of score b: positive when a is better. */
export function lead(a: number, b: number, higherIsBetter: boolean): number {
  return higherIsBetter ? a - b : b - a;
}

/** Whether score a is strictly better than score b. */
export function beats(a: number, b: number, higherIsBetter: boolean): boolean {
  return lead(a, b, higherIsBetter) > 0;
}

/**
 * A candidate further through successive halving ranks first (its score is over more epochs); then the best
 * score wins; ties go to the cheaper candidate (fewer multiply-adds), then the earlier grid point.
 */
export function ranksBefore(a: BestCandidate, b: BestCandidate, higherIsBetter: boolean): boolean {
  if ((a.rung ?? 0) !== (b.rung ?? 0)) return (a.rung ?? 0) > (b.rung ?? 0);
  if (a.score !== b.score) return beats(a.score, b.score, higherIsBetter);
  return a.macs < b.macs || (a.macs === b.macs && a.index < b.index);
}

/** `ranksBefore` as a sort comparator: best first. */
export function byRank(higherIsBetter: boolean): (a: BestCandidate, b: BestCandidate) => number {
  return (a, b) => (ranksBefore(a, b, higherIsBetter) ? -1 : ranksBefore(b, a, higherIsBetter) ? 1 : 0);
}

/** How many of the best candidates the search carries in its state. */
export const LEADERS = 10;

/** The best `LEADERS` of both lists, best first; a training in both counts once, at its later rung. */
export function mergeLeaders(a: BestCandidate[], b: BestCandidate[], higherIsBetter: boolean): BestCandidate[] {
  const seen = new Set<string>();
  return [...a, ...b]
    .sort(byRank(higherIsBetter))
    .filter((c) => !seen.has(c.group) && seen.add(c.group))
    .slice(0, LEADERS);
}
