import type { ArchitectureCost } from '../scaling/cost.js';
import type { CandidateSpec, EpochMetrics, TrainResult } from '../schemas/candidate.js';
import { targetEpochs } from './result.js';
import { scoreOf } from './score.js';
import { higherIsBetter } from '../search/ranking.js';

/**
 * Synthetic validation accuracy of a noop run: a deterministic function of the candidate's multiply-adds, rising
 * with capacity and saturating below 1 — 1 − 0.5 / (1 + ln(1 + MACs/10⁶)) — reached at the last epoch of the schedule,
 * each earlier epoch 0.01 lower (a rung that stops early scores lower). The same spec always gets the same score, and larger candidates score higher, which
 * is what orchestration tests and benchmarks need without training anything.
 */
export function noopAccuracy(macs: number, epoch: number, epochs: number): number {
  const final = 1 - 0.5 / (1 + Math.log1p(macs / 1e6));
  return Math.round((final - 0.01 * (epochs - epoch)) * 1e6) / 1e6;
}

export function noopResult(spec: CandidateSpec, cost: ArchitectureCost, extra: Partial<TrainResult>): TrainResult {
  const { epochs } = spec.training;
  const metrics: EpochMetrics[] = Array.from({ length: targetEpochs(spec) }, (_, i) => {
    const accuracy = noopAccuracy(cost.macs, i + 1, epochs);
    return {
      epoch: i + 1,
      trainLoss: 1 - accuracy,
      trainAccuracy: accuracy,
      valLoss: 1 - accuracy,
      valAccuracy: accuracy,
      imagesPerSecond: 0,
      elapsedSeconds: 0,
    };
  });
  return {
    candidateId: spec.id,
    score: scoreOf(spec.task.metric, spec.task.score, metrics),
    metric: spec.task.metric,
    higherIsBetter: higherIsBetter(spec.task.metric),
    epochs: metrics,
    imagesPerSecond: 0,
    backend: 'noop',
    tfVersion: 'none',
    params: cost.params,
    macs: cost.macs,
    paramBytes: cost.paramBytes,
    peakActivationBytes: cost.peakActivationBytes,
    seconds: 0,
    peakRssBytes: 0,
    modelUri: '',
    resumedFromEpoch: 0,
    ...extra,
  };
}
