import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { TrainResult, type TrainProgress } from '../../../schemas/candidate.js';
import { loadModel } from '../../../trainer/model-io.js';
import { loadNativeTf } from '../../../trainer/tf.js';
import { trainCandidate, TrainingStopped } from '../../../trainer/train.js';
import { fashionSpec, tempDir, tinyArchitecture } from './helpers.js';

const tf = loadNativeTf();

test('a short training on Fashion-MNIST is clearly above chance, on native TensorFlow', async () => {
  const out = await tempDir('accuracy');
  const progress: TrainProgress[] = [];
  const spec = fashionSpec('accuracy', {
    task: { dataset: { format: 'fashion-mnist' }, trainLimit: 1024, valLimit: 300 },
    training: { epochs: 2, batchSize: 32, learningRate: 3e-3, seed: 3, warmupEpochs: 0.25 },
  });
  const result = await trainCandidate(spec, out, { onProgress: (p) => progress.push(p) });
  TrainResult.parse(result);
  assert.equal(result.backend, 'tensorflow');
  assert.equal(result.tfVersion, '2.21.0');
  assert.equal(result.engine, 'graph', 'the compiled graph engine is the default on native TensorFlow');
  assert.equal(result.epochs.length, 2);
  assert.ok(result.score > 0.4, `validation accuracy ${result.score} should be well above chance (0.1)`);
  assert.equal(result.score, result.epochs[1]?.valAccuracy);
  assert.ok(result.imagesPerSecond > 0);
  assert.deepEqual(
    progress.map((p) => p.type).filter((t, i, all) => t !== 'batch' || all[i - 1] !== 'batch'),
    ['start', 'batch', 'epoch', 'batch', 'epoch', 'result'],
  );
  const saved = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as TrainResult;
  assert.equal(saved.score, result.score);

  // The saved model loads back (custom drop-connect layer included) and predicts as the trained one validated.
  const model = await loadModel(tf, result.modelUri);
  const out2 = model.predict(tf.zeros([3, 28, 28, 1])) as import('@tensorflow/tfjs-node').Tensor;
  assert.deepEqual(out2.shape, [3, 10]);

  // A rerun of the same spec returns the result without training again.
  const again = await trainCandidate(spec, out);
  assert.equal(again.finishedAt, result.finishedAt);
});

test('a stopped training resumes at the right epoch and ends with the same weights as an uninterrupted one', async () => {
  // Seeded initialization, order and augmentation, and no random drop-connect masks: two runs are comparable.
  const spec = fashionSpec('resume', {
    task: { dataset: { format: 'fashion-mnist' }, trainLimit: 192, valLimit: 64, augment: { flip: true, crop: 2 } },
    training: { epochs: 2, batchSize: 32, learningRate: 3e-3, seed: 5, optimizer: 'adam' },
  });
  const straight = await trainCandidate(spec, await tempDir('straight'));

  const out = await tempDir('resume');
  const controller = new AbortController();
  await assert.rejects(
    trainCandidate(spec, out, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.type === 'batch' && p.epoch === 1 && p.batch === 3) controller.abort();
      },
      progressSeconds: 0,
    }),
    (err) => err instanceof TrainingStopped && err.epoch === 0 && err.batch === 3,
  );
  const state = JSON.parse(await readFile(join(out, 'checkpoint', 'state.json'), 'utf8')) as { batch: number };
  assert.equal(state.batch, 3);

  const second = new AbortController();
  await assert.rejects(
    trainCandidate(spec, out, {
      signal: second.signal,
      onProgress: (p) => {
        if (p.type === 'epoch') second.abort();
      },
    }),
    (err) => err instanceof TrainingStopped && err.epoch === 1,
  );
  const resumed = await trainCandidate(spec, out);
  assert.equal(resumed.resumedFromEpoch, 1);
  assert.equal(resumed.epochs.length, 2);
  for (const [i, e] of resumed.epochs.entries()) {
    const ref = straight.epochs[i];
    assert.ok(ref);
    assert.ok(
      Math.abs(e.trainLoss - ref.trainLoss) < 1e-4,
      `epoch ${i + 1} train loss ${e.trainLoss} vs ${ref.trainLoss}`,
    );
    assert.ok(Math.abs(e.valAccuracy - ref.valAccuracy) < 0.02);
  }
  const a = (await loadModel(tf, straight.modelUri)).getWeights();
  const b = (await loadModel(tf, resumed.modelUri)).getWeights();
  assert.equal(a.length, b.length);
  const diff = Math.max(...a.map((w, i) => tf.max(tf.abs(tf.sub(w, b[i] ?? w))).dataSync()[0] ?? Infinity));
  assert.ok(diff < 1e-3, `largest weight difference ${diff}`);
});

test('a trainer killed mid-epoch resumes from its last timed checkpoint and ends as an uninterrupted run', async () => {
  const spec = fashionSpec('timed', {
    task: { dataset: { format: 'fashion-mnist' }, trainLimit: 192, valLimit: 64 },
    training: { epochs: 1, batchSize: 32, learningRate: 3e-3, seed: 7, optimizer: 'adam' },
  });
  const straight = await trainCandidate(spec, await tempDir('timed-straight'));
  const out = await tempDir('timed');
  const checkpoints: number[] = [];
  // A lost node: the process ends between two batches with no chance to write a checkpoint of its own.
  const lost = new Error('node lost');
  await assert.rejects(
    trainCandidate(spec, out, {
      checkpointSeconds: 1e-3,
      progressSeconds: 0,
      onProgress: (p) => {
        if (p.type === 'checkpoint') checkpoints.push(p.batch);
        if (p.type === 'batch' && p.batch === 5) throw lost;
      },
    }),
    (err) => err === lost,
  );
  assert.deepEqual(checkpoints, [1, 2, 3, 4], 'a checkpoint after every batch once the interval has passed');
  const state = JSON.parse(await readFile(join(out, 'checkpoint', 'state.json'), 'utf8')) as { batch: number };
  assert.equal(state.batch, 4, 'what the lost attempt had trained up to its last checkpoint is kept');
  const resumed = await trainCandidate(spec, out);
  assert.ok(Math.abs(resumed.epochs[0].trainLoss - straight.epochs[0].trainLoss) < 1e-4);
  const a = (await loadModel(tf, straight.modelUri)).getWeights();
  const b = (await loadModel(tf, resumed.modelUri)).getWeights();
  const diff = Math.max(...a.map((w, i) => tf.max(tf.abs(tf.sub(w, b[i] ?? w))).dataSync()[0] ?? Infinity));
  assert.ok(diff < 1e-3, `largest weight difference ${diff}`);
});

test('a checkpoint of the eager engine resumes in the graph engine and ends where the eager run ends', async () => {
  const spec = fashionSpec('cross-engine', {
    task: { dataset: { format: 'fashion-mnist' }, trainLimit: 192, valLimit: 64 },
    training: { epochs: 2, batchSize: 32, learningRate: 3e-3, seed: 6, optimizer: 'adam' },
  });
  const eager = await trainCandidate(spec, await tempDir('eager-straight'), { engine: 'eager' });
  assert.equal(eager.engine, 'eager');
  const out = await tempDir('cross-engine');
  const controller = new AbortController();
  await assert.rejects(
    trainCandidate(spec, out, {
      engine: 'eager',
      signal: controller.signal,
      onProgress: (p) => {
        if (p.type === 'epoch') controller.abort();
      },
    }),
    (err) => err instanceof TrainingStopped && err.epoch === 1,
  );
  const resumed = await trainCandidate(spec, out, { engine: 'graph' });
  assert.equal(resumed.engine, 'graph');
  assert.equal(resumed.resumedFromEpoch, 1);
  const last = (r: typeof eager) => r.epochs[1]?.trainLoss ?? NaN;
  assert.ok(Math.abs(last(resumed) - last(eager)) < 2e-3 * last(eager), `${last(resumed)} vs ${last(eager)}`);
});

test('graph training is deterministic: the same spec and seed give the same metrics and weights', async () => {
  const spec = fashionSpec('deterministic', {
    architecture: tinyArchitecture({ dropout: 0.2, dropConnect: 0.2 }),
    task: { dataset: { format: 'fashion-mnist' }, trainLimit: 128, valLimit: 64, augment: { flip: true, crop: 2 } },
  });
  const first = await trainCandidate(spec, await tempDir('deterministic-1'));
  const second = await trainCandidate(spec, await tempDir('deterministic-2'));
  assert.deepEqual(
    second.epochs.map(({ trainLoss, valLoss, valAccuracy }) => ({ trainLoss, valLoss, valAccuracy })),
    first.epochs.map(({ trainLoss, valLoss, valAccuracy }) => ({ trainLoss, valLoss, valAccuracy })),
  );
  const a = (await loadModel(tf, first.modelUri)).getWeights();
  const b = (await loadModel(tf, second.modelUri)).getWeights();
  a.forEach((w, i) => assert.deepEqual(w.dataSync(), b[i]?.dataSync(), `weight ${i}`));
});

test('noop validates and costs the candidate and writes a deterministic synthetic result without training', async () => {
  const out = await tempDir('noop');
  const spec = fashionSpec('noop', { training: { epochs: 3 } });
  const result = await trainCandidate(spec, out, { noop: true });
  assert.equal(result.backend, 'noop');
  assert.equal(result.epochs.length, 3);
  assert.ok(result.score > 0.5 && result.score < 1);
  assert.ok(result.macs > 0 && result.params.total > result.params.trainable);
  const other = await trainCandidate(spec, await tempDir('noop2'), { noop: true });
  assert.equal(other.score, result.score);
  const bigger = await trainCandidate(
    { ...spec, architecture: tinyArchitecture({ head: { filters: 256 } }) },
    await tempDir('noop3'),
    { noop: true },
  );
  assert.ok(bigger.score > result.score, 'a larger candidate gets a higher synthetic score');
  await assert.rejects(stat(join(out, 'model')));
});

test('a rung (stopAfter) then the rest of the schedule ends with the weights of a training straight through', async () => {
  // Successive halving trains rung 1 of a 2-epoch schedule, then promotes: the promotion continues the checkpoint.
  const spec = fashionSpec('rungs', {
    task: { dataset: { format: 'fashion-mnist' }, trainLimit: 192, valLimit: 64 },
    training: { epochs: 2, batchSize: 32, learningRate: 3e-3, seed: 7, optimizer: 'adam' },
  });
  const straight = await trainCandidate(spec, await tempDir('rungs-straight'));
  const out = await tempDir('rungs');
  const rung = await trainCandidate({ ...spec, stopAfter: 1 }, out);
  assert.equal(rung.epochs.length, 1);
  assert.equal(rung.score, rung.epochs[0]?.valAccuracy);
  const again = await trainCandidate({ ...spec, stopAfter: 1 }, out);
  assert.equal(again.finishedAt, rung.finishedAt, 'a finished rung is not trained again');

  const promoted = await trainCandidate(spec, out);
  assert.equal(promoted.resumedFromEpoch, 1);
  assert.equal(promoted.epochs.length, 2);
  assert.equal(promoted.epochs[0]?.valAccuracy, rung.epochs[0]?.valAccuracy, 'the rung is its first epoch');
  const a = (await loadModel(tf, straight.modelUri)).getWeights();
  const b = (await loadModel(tf, promoted.modelUri)).getWeights();
  const diff = Math.max(...a.map((w, i) => tf.max(tf.abs(tf.sub(w, b[i] ?? w))).dataSync()[0] ?? Infinity));
  assert.ok(diff < 1e-4, `largest weight difference ${diff}`);
  assert.ok(Math.abs(promoted.score - straight.score) < 0.02, `${promoted.score} vs ${straight.score}`);

  // An earlier rung asked for again (a retried activity) gets the result as it stood then.
  const earlier = await trainCandidate({ ...spec, stopAfter: 1 }, out);
  assert.equal(earlier.epochs.length, 1);
  assert.equal(earlier.score, rung.score);
});
