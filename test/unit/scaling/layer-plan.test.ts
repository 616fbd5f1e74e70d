import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Architecture, type ArchitectureInput } from '../../../scaling/architecture.js';
import { parseBlockString } from '../../../scaling/blocks.js';
import { architectureCost } from '../../../scaling/cost.js';
import { imageInput, layerNames, layerPlan, planWeights, type PlanOp } from '../../../scaling/layer-plan.js';
import { getPreset, presetNames } from '../../../scaling/presets.js';

/** A 16×16 network with a 16-filter stem and the given block strings. */
function network(blocks: string[], extra: Partial<ArchitectureInput> = {}): Architecture {
  return Architecture.parse({
    resolution: 16,
    stem: { filters: 16, kernel: 3, stride: 1 },
    stages: blocks.map(parseBlockString),
    head: { filters: 0 },
    classes: 3,
    ...extra,
  });
}

const opsOf = (arch: Architecture) => layerPlan(arch).ops;
const byName = (ops: PlanOp[], name: string) => ops.find((op) => op.name === name);

test('op names and order of an MBConv block with expansion and squeeze-excite', () => {
  const ops = opsOf(network(['r1_k3_s11_e4_o16_se0.25'], { head: { filters: 32 } }));
  assert.deepEqual(
    ops.map((op) => [op.name, op.kind, op.inputs]),
    [
      ['stem', 'conv', [imageInput]],
      ['block1_1_expand', 'conv', ['stem']],
      ['block1_1_depthwise', 'depthwise', ['block1_1_expand']],
      ['block1_1_se', 'squeeze_excite', ['block1_1_depthwise']],
      ['block1_1_project', 'conv', ['block1_1_se']],
      ['block1_1_add', 'add', ['block1_1_project', 'stem']],
      ['top', 'conv', ['block1_1_add']],
      ['avg_pool', 'global_avg_pool', ['top']],
      ['top_dropout', 'dropout', ['avg_pool']],
      ['predictions', 'dense', ['top_dropout']],
    ],
  );
  assert.equal((byName(ops, 'block1_1_project') as { activation?: string }).activation, undefined);
  assert.equal((byName(ops, 'block1_1_expand') as { activation?: string }).activation, 'swish');
});

test('residual rule: skip, stride 1, incoming = filters and block input filters = filters', () => {
  const adds = (blocks: string[]) =>
    opsOf(network(blocks))
      .filter((op) => op.kind === 'add')
      .map((op) => op.name);
  assert.deepEqual(adds(['r2_k3_s11_e1_o16']), ['block1_1_add', 'block1_2_add']);
  assert.deepEqual(adds(['r2_k3_s22_e1_o16']), ['block1_2_add'], 'the strided first block has none');
  assert.deepEqual(adds(['r2_k3_s11_e1_o24']), ['block1_2_add'], 'the widening first block has none');
  assert.deepEqual(adds(['r2_k3_s11_e1_o16_noskip']), []);
  assert.deepEqual(adds(['r2_k3_s11_e4_i8_o16']), ['block1_2_add'], 'expanding from i8 ≠ 16 has none');
  const add = byName(opsOf(network(['r1_k3_s11_e4_o16'])), 'block1_1_add');
  assert.deepEqual(add?.inputs, ['block1_1_project', 'stem'], 'branch first, then the block input');
});

test('squeeze-excite placement and width in each block type', () => {
  const parts = (block: string) =>
    opsOf(network([block]))
      .filter((op) => op.block)
      .map((op) => op.part);
  assert.deepEqual(parts('r1_k3_s11_e1_o16_se0.25'), ['depthwise', 'se', 'project', 'add']);
  assert.deepEqual(parts('r1_k3_s11_e4_o16_se0.25_c1'), ['fused', 'se', 'project', 'add']);
  // google/automl FusedMBConvBlock: without expansion the excite precedes the single k×k conv
  assert.deepEqual(parts('r1_k3_s11_e1_o16_se0.25_c1'), ['se', 'fused', 'add']);
  assert.deepEqual(parts('cn_r1_k3_s11_o16_se0.25'), ['conv', 'se', 'add']);
  assert.deepEqual(parts('r1_k3_s11_e4_o16_c1'), ['fused', 'project', 'add']);

  const fusedSingle = opsOf(network(['r1_k3_s22_e1_o24_se0.5_c1']));
  const se = byName(fusedSingle, 'block1_1_se');
  assert.deepEqual(se?.inputs, ['stem']);
  assert.deepEqual(se?.shape, [16, 16, 16], 'it excites the block input');
  // reduced from the block's input filters, also where it excites the expanded width
  assert.equal(se?.kind === 'squeeze_excite' && se.reduced, 8);
  const expanded = byName(opsOf(network(['r1_k3_s11_e6_i12_o16_se0.25'])), 'block1_1_se');
  assert.equal(expanded?.kind === 'squeeze_excite' && expanded.reduced, 3);
  assert.deepEqual(expanded?.shape, [16, 16, 72]);
});

test('drop-connect rate grows linearly with the block position; rate 0 has no drop layer', () => {
  const ops = opsOf(network(['r2_k3_s11_e1_o16', 'cn_r2_k3_s11_o16'], { dropConnect: 0.2 }));
  const adds = ops.flatMap((op) => (op.kind === 'add' ? [op] : []));
  assert.deepEqual(
    adds.map((op) => op.name),
    ['block1_1_add', 'block1_2_add', 'block2_1_add', 'block2_2_add'],
  );
  assert.deepEqual(
    adds.map((op) => op.dropConnect),
    [0, 1, 2, 3].map((index) => (0.2 * index) / 4),
  );
  assert.deepEqual(layerNames(adds[0]), { add: 'block1_1_add' });
  assert.deepEqual(layerNames(adds[1]), { drop: 'block1_2_add_drop', add: 'block1_2_add' });
});

test('shapes: same padding, depthwise keeps the channels, pool to 1×1, logits per class; dropout only if > 0', () => {
  const arch = { ...getPreset('micro-28'), resolution: 30 };
  const ops = opsOf(arch);
  assert.deepEqual(layerPlan(arch).input, [30, 30, 1]);
  // stem stride 1 → 30; stage 2 stride 2 → 15 (16 filters expanded ×4); stage 3 stride 2 → 8 (24 expanded ×4)
  assert.deepEqual(byName(ops, 'block2_1_depthwise')?.shape, [15, 15, 64]);
  assert.deepEqual(byName(ops, 'block3_1_depthwise')?.shape, [8, 8, 96]);
  assert.deepEqual(byName(ops, 'avg_pool')?.shape, [1, 1, 256]);
  assert.deepEqual(byName(ops, 'top_dropout')?.shape, [1, 1, 256]);
  assert.deepEqual(ops.at(-1)?.shape, [1, 1, 10]);
  const noDropout = opsOf({ ...arch, dropout: 0 });
  assert.equal(byName(noDropout, 'top_dropout'), undefined);
  assert.deepEqual(noDropout.at(-1)?.inputs, ['avg_pool']);
});

test('every preset: unique names, inputs precede their readers, weights sum to the cost model params', () => {
  for (const name of presetNames) {
    const arch = getPreset(name);
    const plan = layerPlan(arch);
    const shapes = new Map([[imageInput, plan.input]]);
    let trainable = 0;
    let total = 0;
    for (const op of plan.ops) {
      assert.ok(!shapes.has(op.name), `${name}: ${op.name} twice`);
      for (const input of op.inputs) assert.ok(shapes.has(input), `${name}: ${op.name} reads unknown ${input}`);
      for (const w of planWeights(op, (shapes.get(op.inputs[0]) as number[])[2])) {
        const size = w.shape.reduce((n, d) => n * d, 1);
        total += size;
        if (w.trainable) trainable += size;
      }
      shapes.set(op.name, op.shape);
    }
    assert.deepEqual({ trainable, total }, architectureCost(arch).params, name);
  }
});

test('planWeights: shapes and layers in tfjs-layers creation order', () => {
  const ops = opsOf(network(['r1_k5_s11_e1_o16_se0.25']));
  const weights = (name: string, inputChannels: number) =>
    planWeights(byName(ops, name) as PlanOp, inputChannels).map((w) => [w.layer, w.weight, w.shape, w.trainable]);
  assert.deepEqual(weights('block1_1_depthwise', 16), [
    ['block1_1_depthwise_conv', 'depthwise_kernel', [5, 5, 16, 1], true],
    ['block1_1_depthwise_bn', 'gamma', [16], true],
    ['block1_1_depthwise_bn', 'beta', [16], true],
    ['block1_1_depthwise_bn', 'moving_mean', [16], false],
    ['block1_1_depthwise_bn', 'moving_variance', [16], false],
  ]);
  assert.deepEqual(weights('block1_1_se', 16), [
    ['block1_1_se_reduce', 'kernel', [1, 1, 16, 4], true],
    ['block1_1_se_reduce', 'bias', [4], true],
    ['block1_1_se_expand', 'kernel', [1, 1, 4, 16], true],
    ['block1_1_se_expand', 'bias', [16], true],
  ]);
  assert.deepEqual(weights('predictions', 16), [
    ['predictions', 'kernel', [16, 3], true],
    ['predictions', 'bias', [3], true],
  ]);
  assert.deepEqual(weights('block1_1_add', 16), []);
});
