import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { architectureCost } from '../../../scaling/cost.js';
import { imageInput, layerNames, layerPlan, planWeights, type PlanShape } from '../../../scaling/layer-plan.js';
import { getPreset, presetNames } from '../../../scaling/presets.js';
import { scaleArchitecture } from '../../../scaling/scale.js';
import { Architecture } from '../../../scaling/architecture.js';
import { buildModel, countParams } from '../../../trainer/model.js';
import { loadNativeTf } from '../../../trainer/tf.js';

const tf = loadNativeTf();

/** Parameter counts do not depend on the resolution, so large presets are built at a small one to stay quick. */
function small(arch: Architecture): Architecture {
  return { ...arch, resolution: Math.min(arch.resolution, 64) };
}

function paramsOf(arch: Architecture) {
  const model = buildModel(arch, tf);
  try {
    return countParams(model);
  } finally {
    model.dispose();
  }
}

test('the native backend is the one that trains', () => {
  assert.equal(tf.getBackend(), 'tensorflow');
});

for (const name of presetNames) {
  test(`parameter counts of preset ${name} equal the cost model's`, () => {
    const arch = small(getPreset(name));
    assert.deepEqual(paramsOf(arch), architectureCost(arch).params);
  });
}

test('EfficientNet-B0 has the published parameter counts', () => {
  assert.deepEqual(paramsOf(small(getPreset('efficientnet-b0'))), { trainable: 5_288_548, total: 5_330_564 });
});

/** Random baselines with every op, scaled at random: the candidates a search may train. */
const stage = fc.record({
  op: fc.constantFrom('conv', 'fused_mbconv', 'mbconv'),
  repeats: fc.integer({ min: 1, max: 2 }),
  kernel: fc.constantFrom(1, 3, 5),
  stride: fc.constantFrom(1, 2),
  expandRatio: fc.constantFrom(1, 2, 4, 6),
  filters: fc.integer({ min: 4, max: 40 }),
  seRatio: fc.constantFrom(0, 0.25),
  skip: fc.boolean(),
});
const baseline = fc.record({
  resolution: fc.constant(16),
  inputChannels: fc.constantFrom(1, 3),
  stem: fc.record({ filters: fc.integer({ min: 4, max: 32 }), kernel: fc.constant(3), stride: fc.constant(2) }),
  stages: fc.array(stage, { minLength: 1, maxLength: 3 }),
  head: fc.record({ filters: fc.constantFrom(0, 64) }),
  classes: fc.integer({ min: 2, max: 12 }),
});
const factors = fc.record({
  depth: fc.double({ min: 1, max: 2, noNaN: true }),
  width: fc.double({ min: 1, max: 2, noNaN: true }),
  resolution: fc.constant(1),
});
const scaledCandidate = fc
  .tuple(baseline, factors)
  .map(([input, f]) => scaleArchitecture(Architecture.parse(input), f));

test('parameter counts equal the cost model for randomly scaled candidates of every op', () => {
  fc.assert(
    fc.property(scaledCandidate, (arch) => {
      assert.deepEqual(paramsOf(arch), architectureCost(arch).params);
    }),
    { numRuns: 25, seed: 7 },
  );
});

test('the model maps a batch to class probabilities', () => {
  const arch = getPreset('micro-28');
  const model = buildModel(arch, tf);
  const out = tf.tidy(() => model.predict(tf.zeros([2, 28, 28, 1])) as import('@tensorflow/tfjs-node').Tensor);
  assert.deepEqual(out.shape, [2, 10]);
  const sums = tf.tidy(() => tf.sum(out, 1).arraySync() as number[]);
  for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-4);
  out.dispose();
  model.dispose();
});

/** The model has exactly the layers the plan names, and every plan weight where the plan puts it. */
function assertFollowsPlan(arch: Architecture): void {
  const model = buildModel(arch, tf);
  try {
    const plan = layerPlan(arch);
    const planned = plan.ops.flatMap((op) => Object.values(layerNames(op)));
    const built = model.layers.map((l) => l.name).filter((name) => name !== imageInput);
    assert.deepEqual([...built].sort(), [...planned].sort(), arch.name);
    const shapes = new Map<string, PlanShape>([[imageInput, plan.input]]);
    let count = 0;
    for (const op of plan.ops) {
      for (const w of planWeights(op, (shapes.get(op.inputs[0]) as PlanShape)[2])) {
        const variable = model.getLayer(w.layer).weights.find((v) => v.originalName.endsWith(`/${w.weight}`));
        assert.deepEqual(variable?.shape, w.shape, `${arch.name}: ${w.layer}/${w.weight}`);
        assert.equal(variable?.trainable, w.trainable, `${arch.name}: ${w.layer}/${w.weight}`);
        count++;
      }
      shapes.set(op.name, op.shape);
    }
    assert.equal(count, model.weights.length, `${arch.name}: the plan names every weight`);
  } finally {
    model.dispose();
  }
}

test('the model has exactly the layers and weights its layer plan names: presets and random candidates', () => {
  for (const name of presetNames) assertFollowsPlan(small(getPreset(name)));
  fc.assert(fc.property(scaledCandidate, assertFollowsPlan), { numRuns: 15, seed: 3 });
});
