import type { EpochMetrics } from '../schemas/candidate.js';
import type { Metric, ScoreRule } from '../schemas/task.js';
import { higherIsBetter } from '../search/ranking.js';

/** The validation value of the task metric in one epoch; error is 1 − accuracy. */
export function metricValue(metric: Metric, epoch: EpochMetrics): number {
  if (metric === 'accuracy') return epoch.valAccuracy;
  if (metric === 'error') return 1 - epoch.valAccuracy;
  return epoch.valLoss;
}

/**
 * The candidate's score as the method reads it off: the final value, or the mean or best over the last k epochs
 * (fewer when fewer were trained). The score stays in the metric's units; for loss-type metrics `max` means the
 * best, i.e. the lowest value.
 */
export function scoreOf(metric: Metric, rule: ScoreRule, epochs: readonly EpochMetrics[]): number {
  if (epochs.length === 0) throw new Error('no epoch was trained, so there is nothing to score');
  const values = epochs.slice(-rule.lastK).map((e) => metricValue(metric, e));
  if (rule.reduce === 'final') return values[values.length - 1];
  if (rule.reduce === 'mean') return values.reduce((a, b) => a + b, 0) / values.length;
  return higherIsBetter(metric) ? Math.max(...values) : Math.min(...values);
}
