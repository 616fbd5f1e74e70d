import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Training } from '../../../schemas/task.js';
import { withBatchedMovingAverages } from '../../../trainer/batch-norm.js';
import { customLayers, withNativeSwish } from '../../../trainer/layers.js';
import { nativeOps } from '../../../trainer/native-ops.js';
import { createOptimizer } from '../../../trainer/optimizer.js';
import { loadNativeTf } from '../../../trainer/tf.js';

type Tensor = import('@tensorflow/tfjs-node').Tensor;
type Variable = import('@tensorflow/tfjs-node').Variable;

const tf = loadNativeTf();
const ops = nativeOps(tf);

function maxDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

function close(a: Tensor, b: Tensor, tolerance: number, what: string): void {
  const diff = maxDiff(a, b);
  assert.ok(diff <= tolerance, `${what}: max difference ${diff} > ${tolerance}`);
}

test('the fused ops exist on the native backend', () => {
  assert.ok(ops, 'nativeOps(tf) on tfjs-node');
});

test('fused training batch norm equals tfjs-layers: output, gradients and moving statistics', () => {
  const { BatchNorm } = customLayers(tf);
  const x = tf.randomNormal([4, 5, 5, 6], 2, 3, 'float32', 1);
  const dy = tf.randomNormal([4, 5, 5, 6], 0, 1, 'float32', 2);
  const build = (Layer: new (args: object) => import('@tensorflow/tfjs-node').layers.Layer) => {
    const layer = new Layer({ momentum: 0.9, epsilon: 1e-3 });
    layer.build(x.shape);
    layer.setWeights([
      tf.randomUniform([6], 0.5, 1.5, 'float32', 3),
      tf.randomUniform([6], -1, 1, 'float32', 4),
      tf.zeros([6]),
      tf.ones([6]),
    ]);
    return layer;
  };
  const reference = build(tf.layers.batchNormalization({}).constructor as never);
  const fused = build(BatchNorm as never);
  const run = (layer: import('@tensorflow/tfjs-node').layers.Layer) => {
    const input = tf.variable(x);
    const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as Variable);
    let y: Tensor | undefined;
    const { grads } = tf.variableGrads(() => {
      y = tf.keep(layer.apply(input, { training: true }) as Tensor);
      return tf.sum(tf.mul(y, dy));
    }, [input, gamma, beta]);
    // A second training call moves the statistics again: both updates must land, in order.
    layer.apply(tf.mul(x, 0.5), { training: true });
    assert.ok(y);
    return { y, dx: grads[input.name], dGamma: grads[gamma.name], dBeta: grads[beta.name], layer };
  };
  const a = run(reference);
  const b = withBatchedMovingAverages(tf, () => run(fused));
  close(a.y, b.y, 1e-5, 'output');
  close(a.dx, b.dx, 1e-4, 'input gradient');
  close(a.dGamma, b.dGamma, 1e-3, 'gamma gradient');
  close(a.dBeta, b.dBeta, 1e-3, 'beta gradient');
  const [, , meanA, varianceA] = a.layer.getWeights();
  const [, , meanB, varianceB] = b.layer.getWeights();
  close(meanA, meanB, 1e-5, 'moving mean');
  close(varianceA, varianceB, 1e-4, 'moving variance');
  close(reference.apply(x) as Tensor, fused.apply(x) as Tensor, 1e-5, 'inference output');
});

test('native swish and global average pooling match the composed ops and their gradients', () => {
  assert.ok(ops);
  const x = tf.randomNormal([3, 4, 4, 5], 0, 3, 'float32', 5);
  const dy = tf.randomNormal([3, 4, 4, 5], 0, 1, 'float32', 6);
  const composed = tf.grad((t: Tensor) => tf.sum(tf.mul(tf.mul(t, tf.sigmoid(t)), dy)));
  const native = tf.grad((t: Tensor) => tf.sum(tf.mul(ops.swish(t), dy)));
  close(ops.swish(x), tf.mul(x, tf.sigmoid(x)), 1e-6, 'swish');
  close(native(x), composed(x), 1e-5, 'swish gradient');
  const dPool = tf.randomNormal([3, 5], 0, 1, 'float32', 7);
  const pooled = tf.grad((t: Tensor) => tf.sum(tf.mul(ops.globalAveragePool(t), dPool)));
  const mean = tf.grad((t: Tensor) => tf.sum(tf.mul(tf.mean(t, [1, 2]), dPool)));
  close(ops.globalAveragePool(x), tf.mean(x, [1, 2]), 1e-6, 'pool');
  close(pooled(x), mean(x), 1e-6, 'pool gradient');
  const layer = withNativeSwish(tf, tf.layers.activation({ activation: 'swish' }));
  assert.equal((layer.getConfig() as { activation: string }).activation, 'swish', 'serializes as plain swish');
});

for (const optimizer of ['adam', 'sgd', 'rmsprop'] as const) {
  test(`the flat ${optimizer} update equals tfjs' optimizer over several steps, and its state round-trips`, () => {
    const training = Training.parse({ optimizer, learningRate: 0.05, momentum: 0.9 });
    const shapes = [[3, 3, 2, 4], [4], [2, 5]];
    const make = (seed: number) =>
      shapes.map((s, i) => tf.variable(tf.randomNormal(s, 0, 1, 'float32', seed + i), true));
    const flatVars = make(10);
    const refVars = make(10);
    const flat = createOptimizer(tf, training, flatVars);
    const reference =
      optimizer === 'sgd'
        ? tf.train.momentum(0.05, 0.9)
        : optimizer === 'rmsprop'
          ? tf.train.rmsprop(0.05, 0.9, 0.9, 1e-3)
          : tf.train.adam(0.05);
    for (let step = 0; step < 4; step++) {
      const grads = shapes.map((s, i) => tf.randomNormal(s, 0, 1, 'float32', 100 * step + i));
      flat.applyGradients(grads);
      reference.applyGradients(refVars.map((v, i) => ({ name: v.name, tensor: grads[i] })));
    }
    flatVars.forEach((v, i) => close(v, refVars[i], 1e-5, `${optimizer} variable ${i}`));

    const copy = createOptimizer(tf, training, flatVars);
    copy.setWeights(flat.getWeights());
    const grads = shapes.map((s, i) => tf.randomNormal(s, 0, 1, 'float32', 999 + i));
    const before = flatVars.map((v) => v.clone());
    copy.applyGradients(grads);
    const afterCopy = flatVars.map((v) => v.clone());
    flatVars.forEach((v, i) => v.assign(before[i]));
    flat.applyGradients(grads);
    flatVars.forEach((v, i) => close(v, afterCopy[i], 0, `${optimizer} resumed step, variable ${i}`));
    assert.throws(() => copy.setWeights(flat.getWeights().slice(0, 1)), /optimizer state does not match/);
  });
}
