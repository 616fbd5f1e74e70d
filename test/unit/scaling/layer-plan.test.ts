import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Architecture, type ArchitectureInput } from '../../../scaling/architecture.js';
import { architectureCost } from '../../../scaling/cost.js';
import { imageInput, layerPlan, planWeights, type PlanOp } from '../../../scaling/layer-plan.js';
import { getPreset, presetNames } from '../../../scaling/presets.js';

const arch = (stages: ArchitectureInput['stages'], extra: Partial<ArchitectureInput> = {}) =>
  Architecture.parse({
    resolution: 32,
    inputChannels: 3,
    stem: { filters: 16, kernel: 3, stride: 2 },
    stages,
    head: { filters: 64 },
    classes: 10,
    ...extra,
  });

const names = (ops: PlanOp[]) => ops.map((op) => op.name);

test('an MBConv block unrolls into expand, depthwise, squeeze-excite, project and the residual add', () => {
  const plan = layerPlan(
    arch([{ op: 'mbconv', repeats: 2, kernel: 3, stride: 1, expandRatio: 4, filters: 16, seRatio: 0.25 }]),
  );
  assert.deepEqual(names(plan.ops), [
    'stem',
    'block1_1_expand',
    'block1_1_depthwise',
    'block1_1_se',
    'block1_1_project',
    'block1_1_add',
    'block1_2_expand',
    'block1_2_depthwise',
    'block1_2_se',
    'block1_2_project',
    'block1_2_add',
    'top',
    'avg_pool',
    'top_dropout',
    'predictions',
  ]);
  const add = plan.ops.find((op) => op.name === 'block1_1_add');
  assert.deepEqual(add?.inputs, ['block1_1_project', 'stem'], 'the residual reads the branch and the block input');
  assert.deepEqual(plan.ops[0].inputs, [imageInput]);
  const se = plan.ops.find((op) => op.name === 'block1_1_se');
  assert.equal(se?.kind === 'squeeze_excite' && se.reduced, 4, 'squeezed from the block input filters (16 · 0.25)');
});

test('the residual add needs stride 1 and equal filters in and out, and skip', () => {
  const strided = layerPlan(arch([{ op: 'mbconv', repeats: 1, kernel: 3, stride: 2, filters: 16 }]));
  const wider = layerPlan(arch([{ op: 'mbconv', repeats: 1, kernel: 3, stride: 1, filters: 24 }]));
  const noskip = layerPlan(arch([{ op: 'mbconv', repeats: 1, kernel: 3, stride: 1, filters: 16, skip: false }]));
  for (const plan of [strided, wider, noskip]) assert.ok(!plan.ops.some((op) => op.kind === 'add'));
  const kept = layerPlan(arch([{ op: 'mbconv', repeats: 1, kernel: 3, stride: 1, filters: 16 }]));
  assert.ok(kept.ops.some((op) => op.kind === 'add'));
});

test('fused-MBConv without expansion excites before its single conv; with expansion after it', () => {
  const single = layerPlan(
    arch([{ op: 'fused_mbconv', repeats: 1, kernel: 3, stride: 1, filters: 16, seRatio: 0.25 }]),
  );
  assert.deepEqual(names(single.ops).slice(1, 4), ['block1_1_se', 'block1_1_fused', 'block1_1_add']);
  const expanded = layerPlan(
    arch([{ op: 'fused_mbconv', repeats: 1, kernel: 3, stride: 1, expandRatio: 4, filters: 16, seRatio: 0.25 }]),
  );
  assert.deepEqual(names(expanded.ops).slice(1, 5), [
    'block1_1_fused',
    'block1_1_se',
    'block1_1_project',
    'block1_1_add',
  ]);
});

test('drop-connect grows linearly with the block position; dropout and the head conv only when asked', () => {
  const plan = layerPlan(
    arch([{ op: 'mbconv', repeats: 4, kernel: 3, stride: 1, filters: 16 }], {
      dropConnect: 0.2,
      dropout: 0,
      head: { filters: 0 },
    }),
  );
  const rates = plan.ops.flatMap((op) => (op.kind === 'add' ? [op.dropConnect] : []));
  assert.deepEqual(
    rates.map((r) => r.toFixed(6)),
    ['0.000000', '0.050000', '0.100000', '0.150000'],
  );
  assert.ok(!plan.ops.some((op) => op.kind === 'dropout' || op.name === 'top'));
});

test('shapes follow the strides with same padding, and the classifier gives the classes', () => {
  const plan = layerPlan({ ...getPreset('efficientnet-b0'), resolution: 225 });
  assert.deepEqual(plan.ops[0].shape, [113, 113, 32]);
  assert.deepEqual(plan.ops.at(-1)?.shape, [1, 1, 1000]);
  const top = plan.ops.find((op) => op.name === 'top');
  assert.deepEqual(top?.shape, [8, 8, 1280]);
});

for (const name of presetNames) {
  test(`the weights of the plan of ${name} are the cost model's parameters`, () => {
    const architecture = getPreset(name);
    const plan = layerPlan(architecture);
    const shapes = new Map(plan.ops.map((op) => [op.name, op.shape]));
    const weights = plan.ops.flatMap((op) => planWeights(op, (shapes.get(op.inputs[0]) ?? plan.input)[2]));
    const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    const trainable = weights.filter((w) => w.trainable).reduce((n, w) => n + size(w.shape), 0);
    const total = weights.reduce((n, w) => n + size(w.shape), 0);
    assert.deepEqual({ trainable, total }, architectureCost(architecture).params);
  });
}
