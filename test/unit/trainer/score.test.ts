import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EpochMetrics } from '../../../schemas/candidate.js';
import { Training } from '../../../schemas/task.js';
import { permutation, seededRandom } from '../../../trainer/data/random.js';
import { learningRateAt } from '../../../trainer/schedule.js';
import { scoreOf } from '../../../trainer/score.js';

const epoch = (n: number, valAccuracy: number, valLoss: number): EpochMetrics => ({
  epoch: n,
  trainLoss: 0,
  trainAccuracy: 0,
  valLoss,
  valAccuracy,
  imagesPerSecond: 0,
  elapsedSeconds: 0,
});
const epochs = [epoch(1, 0.5, 1.2), epoch(2, 0.7, 0.9), epoch(3, 0.6, 1.0)];

test('score rules read accuracy as it is and minimize loss-type metrics', () => {
  assert.equal(scoreOf('accuracy', { reduce: 'final', lastK: 1 }, epochs), 0.6);
  assert.equal(scoreOf('accuracy', { reduce: 'max', lastK: 2 }, epochs), 0.7);
  assert.ok(Math.abs(scoreOf('accuracy', { reduce: 'mean', lastK: 2 }, epochs) - 0.65) < 1e-12);
  assert.equal(scoreOf('loss', { reduce: 'max', lastK: 3 }, epochs), 0.9, 'max means best: the lowest loss');
  assert.ok(Math.abs(scoreOf('error', { reduce: 'final', lastK: 1 }, epochs) - 0.4) < 1e-12);
  assert.equal(scoreOf('accuracy', { reduce: 'mean', lastK: 10 }, [epochs[0] ?? epoch(1, 0, 0)]), 0.5);
});

test('learning rate: linear warmup, then cosine to zero', () => {
  const training = Training.parse({ epochs: 4, learningRate: 0.1, warmupEpochs: 1, schedule: 'cosine' });
  assert.ok(Math.abs(learningRateAt(training, 0, 10) - 0.01) < 1e-12);
  assert.ok(Math.abs(learningRateAt(training, 9, 10) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRateAt(training, 10, 10) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRateAt(training, 25, 10) - 0.05) < 1e-12);
  assert.ok(learningRateAt(training, 39, 10) < 0.001);
  const constant = Training.parse({ learningRate: 0.1, schedule: 'constant' });
  assert.equal(learningRateAt(constant, 5, 10), 0.1);
});

test('shuffles replay exactly from the seed and differ between epochs', () => {
  const a = permutation(100, seededRandom(7, 1));
  assert.deepEqual(a, permutation(100, seededRandom(7, 1)));
  assert.notDeepEqual(a, permutation(100, seededRandom(7, 2)));
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    Array.from({ length: 100 }, (_, i) => i),
  );
});
