import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Architecture, type ArchitectureInput } from '../../../scaling/architecture.js';
import { getPreset } from '../../../scaling/presets.js';
import { Training, type TrainingInput } from '../../../schemas/task.js';
import type { Batch } from '../../../trainer/data/batches.js';
import { createEngine } from '../../../trainer/create-engine.js';
import type { TrainingEngine } from '../../../trainer/engine.js';
import { buildModel } from '../../../trainer/model.js';
import { loadNativeTf } from '../../../trainer/tf.js';

type Tensor = import('@tensorflow/tfjs-node').Tensor;

const tf = loadNativeTf();

/** A deterministic random batch (values in [-1, 1] like preprocessed images, one-hot labels). */
function randomBatch(arch: Architecture, size: number, seed: number): Batch {
  const xs = tf.randomUniform([size, arch.resolution, arch.resolution, arch.inputChannels], -1, 1, 'float32', seed);
  const labels = Int32Array.from({ length: size }, (_, i) => (i * 7 + seed) % arch.classes);
  const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), arch.classes).toFloat();
  return { form: 'normalized', xs, ys, labels, size };
}

function copyBatch(batch: Batch): Batch {
  return { ...batch, xs: batch.xs.clone(), ys: batch.ys.clone() };
}

interface Trained {
  losses: number[];
  weights: Tensor[];
}

/** Trains a fresh model (same seeded init for every engine) for `batches.length` steps; returns losses and weights. */
async function train(
  engineName: 'graph' | 'eager',
  arch: Architecture,
  trainingInput: TrainingInput,
  batches: Batch[],
): Promise<Trained> {
  const training = Training.parse(trainingInput);
  const model = buildModel(arch, tf, { seed: 11 });
  const engine: TrainingEngine = createEngine(engineName, { tf, model, architecture: arch, training });
  const losses: number[] = [];
  for (const batch of batches) losses.push((await engine.trainStep(copyBatch(batch), training.learningRate)).loss);
  engine.pushWeights();
  const weights = model.getWeights().map((w) => w.clone());
  engine.dispose();
  model.dispose();
  return { losses, weights };
}

/** Largest |a − b| relative to the largest |b| of each weight (batch-norm variances and kernels differ in scale). */
function compareWeights(a: Tensor[], b: Tensor[], tolerance: number, what: string) {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => {
    const [diff, scale] = tf.tidy(() => [
      tf.max(tf.abs(tf.sub(x, b[i]))).dataSync()[0],
      tf.max(tf.abs(b[i])).dataSync()[0],
    ]);
    assert.ok(
      diff <= tolerance * Math.max(scale, 1e-3),
      `${what}: weight ${i} ${x.shape}: |Δ| ${diff} > ${tolerance}·${scale}`,
    );
  });
}

const plainSgd: TrainingInput = { optimizer: 'sgd', momentum: 0, learningRate: 1, epochs: 1, batchSize: 4 };

/**
 * With SGD, momentum 0 and learning rate 1, one step moves every weight by exactly minus its gradient, and every
 * batch-norm statistic by its moving-average update: equal weights after one step mean equal loss gradients.
 */
async function assertSameGradients(input: ArchitectureInput, what: string, tolerance = 2e-4) {
  const arch = Architecture.parse({ dropout: 0, dropConnect: 0, ...input });
  const batch = randomBatch(arch, 4, 5);
  const eager = await train('eager', arch, plainSgd, [batch]);
  const graph = await train('graph', arch, plainSgd, [batch]);
  tf.dispose([batch.xs, batch.ys]);
  assert.ok(Math.abs(eager.losses[0] - graph.losses[0]) <= 1e-5 * Math.max(1, eager.losses[0]), `${what}: loss`);
  compareWeights(graph.weights, eager.weights, tolerance, what);
  tf.dispose([...eager.weights, ...graph.weights]);
}

const stage = (fields: Partial<Architecture['stages'][number]>) => ({
  op: 'mbconv' as const,
  repeats: 2,
  kernel: 3,
  stride: 1,
  expandRatio: 1,
  filters: 8,
  seRatio: 0,
  ...fields,
});

const base = (stages: ArchitectureInput['stages'], extra: Partial<ArchitectureInput> = {}): ArchitectureInput => ({
  resolution: 12,
  inputChannels: 3,
  stem: { filters: 8, kernel: 3, stride: 2 },
  stages,
  head: { filters: 16 },
  classes: 5,
  ...extra,
});

const opCases: [string, ArchitectureInput][] = [
  ['conv + batch norm + swish, residual add', base([stage({ op: 'conv' })])],
  ['conv with stride 2 and squeeze-excite', base([stage({ op: 'conv', stride: 2, filters: 16, seRatio: 0.25 })])],
  ['MBConv: expand, depthwise, squeeze-excite, project', base([stage({ expandRatio: 4, seRatio: 0.25, kernel: 5 })])],
  ['MBConv without expansion, stride 2', base([stage({ stride: 2, filters: 12 })])],
  ['fused-MBConv with expansion', base([stage({ op: 'fused_mbconv', expandRatio: 4, seRatio: 0.25 })])],
  ['fused-MBConv without expansion: excite before the conv', base([stage({ op: 'fused_mbconv', seRatio: 0.25 })])],
  ['relu activation', base([stage({ expandRatio: 2, seRatio: 0.25 })], { activation: 'relu' })],
  ['relu6 activation, no head conv', base([stage({ expandRatio: 2 })], { activation: 'relu6', head: { filters: 0 } })],
  ['no residual (noskip)', base([stage({ skip: false })])],
  ['one input channel', base([stage({})], { inputChannels: 1 })],
];

for (const [what, arch] of opCases) {
  test(`graph gradients equal tfjs autodiff: ${what}`, () => assertSameGradients(arch, what));
}

test('graph gradients equal tfjs autodiff on random candidates of every block type', async () => {
  const stageArb = fc.record({
    op: fc.constantFrom('conv' as const, 'fused_mbconv' as const, 'mbconv' as const),
    repeats: fc.integer({ min: 1, max: 2 }),
    kernel: fc.constantFrom(1, 3, 5),
    stride: fc.constantFrom(1, 2),
    expandRatio: fc.constantFrom(1, 3, 6),
    filters: fc.integer({ min: 4, max: 24 }),
    seRatio: fc.constantFrom(0, 0.25),
    skip: fc.boolean(),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(stageArb, { minLength: 1, maxLength: 3 }),
      fc.constantFrom(0, 24),
      async (stages, head) => {
        await assertSameGradients(base(stages, { head: { filters: head } }), JSON.stringify(stages));
      },
    ),
    { numRuns: 12, seed: 3 },
  );
});

test('Adam, momentum SGD and RMSProp in the graph track the eager optimizers over several steps', async () => {
  const arch = Architecture.parse({ ...getPreset('micro-28'), resolution: 16, dropout: 0, dropConnect: 0 });
  const batches = [1, 2, 3, 4, 5].map((seed) => randomBatch(arch, 8, seed));
  for (const optimizer of ['adam', 'sgd', 'rmsprop'] as const) {
    const training: TrainingInput = { optimizer, learningRate: 1e-2, epochs: 1, batchSize: 8 };
    const eager = await train('eager', arch, training, batches);
    const graph = await train('graph', arch, training, batches);
    eager.losses.forEach((loss, i) =>
      assert.ok(
        Math.abs(loss - graph.losses[i]) <= 1e-3 * loss,
        `${optimizer} step ${i}: ${loss} vs ${graph.losses[i]}`,
      ),
    );
    // Adam scales every step to about the learning rate, so weights whose gradient is float noise (a batch-norm
    // beta just before another batch norm) move by ±lr in either engine: for Adam the losses are the comparison.
    if (optimizer !== 'adam') compareWeights(graph.weights, eager.weights, 1e-3, optimizer);
    tf.dispose([...eager.weights, ...graph.weights]);
  }
  tf.dispose(batches.flatMap((b) => [b.xs, b.ys]));
});

test('graph training is deterministic: the same seed and batches give the same weights, dropout included', async () => {
  const arch = Architecture.parse({ ...getPreset('micro-28'), resolution: 16, dropout: 0.3, dropConnect: 0.3 });
  const batches = [1, 2, 3].map((seed) => randomBatch(arch, 8, seed));
  const training: TrainingInput = { learningRate: 1e-2, epochs: 1, batchSize: 8 };
  const first = await train('graph', arch, training, batches);
  const second = await train('graph', arch, training, batches);
  assert.deepEqual(first.losses, second.losses);
  first.weights.forEach((w, i) => assert.deepEqual(w.dataSync(), second.weights[i].dataSync(), `weight ${i}`));
  tf.dispose([...first.weights, ...second.weights, ...batches.flatMap((b) => [b.xs, b.ys])]);
});

test('evaluation in the graph equals the eager model in inference mode', async () => {
  const arch = Architecture.parse({ ...getPreset('micro-28'), resolution: 16 });
  const training = Training.parse({ epochs: 1, batchSize: 8 });
  const batch = randomBatch(arch, 8, 9);
  const model = buildModel(arch, tf, { seed: 2 });
  const graph = createEngine('graph', { tf, model, architecture: arch, training });
  const eager = createEngine('eager', { tf, model, architecture: arch, training });
  // One training step moves the batch-norm statistics away from their initial 0/1, so inference differs from training.
  await graph.trainStep(copyBatch(batch), 1e-2);
  graph.pushWeights();
  const fromGraph = await graph.evaluate(copyBatch(batch));
  const fromEager = await eager.evaluate(copyBatch(batch));
  assert.ok(
    Math.abs(fromGraph.loss - fromEager.loss) <= 1e-5 * fromEager.loss,
    `${fromGraph.loss} vs ${fromEager.loss}`,
  );
  assert.equal(fromGraph.correct, fromEager.correct);
  graph.dispose();
  eager.dispose();
  model.dispose();
  tf.dispose([batch.xs, batch.ys]);
});

test('optimizer slots round-trip through the checkpoint layout in the tfjs model order', async () => {
  const arch = Architecture.parse({ ...getPreset('micro-28'), resolution: 16 });
  const training = Training.parse({ epochs: 1, batchSize: 8 });
  const model = buildModel(arch, tf, { seed: 2 });
  const graph = createEngine('graph', { tf, model, architecture: arch, training });
  const batch = randomBatch(arch, 8, 4);
  await graph.trainStep(copyBatch(batch), 1e-2);
  const saved = graph.optimizer.getWeights();
  await graph.trainStep(copyBatch(batch), 1e-2);
  graph.optimizer.setWeights(saved);
  const restored = graph.optimizer.getWeights();
  assert.equal(restored[0].tensor.dataSync()[0], 1, 'step count');
  saved.forEach((s, i) => assert.deepEqual(restored[i].tensor.dataSync(), s.tensor.dataSync(), s.name));
  // The eager engine reads the same layout: slot sizes equal the trainable weights in the model's order.
  const total = model.trainableWeights.reduce((n, w) => n + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
  assert.equal(saved[1].tensor.size, total);
  tf.dispose([...saved, ...restored].map((s) => s.tensor));
  graph.dispose();
  model.dispose();
  tf.dispose([batch.xs, batch.ys]);
});

test('a model that does not match the compiled graph is refused with the reason and the engine to use instead', () => {
  const arch = Architecture.parse({ ...getPreset('micro-28'), resolution: 16 });
  const other = buildModel(Architecture.parse({ ...arch, head: { filters: 32 } }), tf, { seed: 1 });
  const training = Training.parse({ epochs: 1, batchSize: 8 });
  assert.throws(
    () => createEngine('graph', { tf, model: other, architecture: arch, training }),
    /the graph engine cannot train micro-28: model micro-28 does not match its layer plan: top_conv\/kernel .*; use --engine eager/,
  );
  other.dispose();
});
