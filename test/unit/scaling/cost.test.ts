import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Architecture } from '../../../scaling/architecture.js';
import { architectureCost, architectureTotals, type ArchitectureCost } from '../../../scaling/cost.js';
import { getPreset, presetNames } from '../../../scaling/presets.js';
import { scaleArchitecture } from '../../../scaling/scale.js';

test('EfficientNet-B0: exact parameters and multiply-adds of the reference', () => {
  const cost = architectureCost(getPreset('efficientnet-b0'));
  assert.deepEqual(cost.params, { trainable: 5_288_548, total: 5_330_564 });
  assert.equal(cost.macs, 388_121_280);
  assert.equal(cost.paramBytes, 4 * 5_330_564);
});

// (width, depth, resolution) of the released models; trainable = torchvision's published num_params,
// total = Keras model.summary() "Total params" minus the 7 of its input Normalization layer (mean 3, variance 3,
// count 1), which effscale does not model.
const published = [
  ['B1', 1.0, 1.1, 240, 7_794_184, 7_856_239],
  ['B2', 1.1, 1.2, 260, 9_109_994, 9_177_569],
  ['B3', 1.2, 1.4, 300, 12_233_232, 12_320_535],
  ['B4', 1.4, 1.8, 380, 19_341_616, 19_466_823],
  ['B5', 1.6, 2.2, 456, 30_389_784, 30_562_527],
  ['B6', 1.8, 2.6, 528, 43_040_704, 43_265_143],
  ['B7', 2.0, 3.1, 600, 66_347_960, 66_658_687],
] as const;

test('B1–B7: B0 scaled by the published table gives the published parameter counts exactly', () => {
  const b0 = getPreset('efficientnet-b0');
  for (const [model, width, depth, resolution, trainable, kerasTotal] of published) {
    const arch = scaleArchitecture(b0, { width, depth, resolution: resolution / 224 });
    assert.equal(arch.resolution, resolution, model);
    const cost = architectureCost(arch);
    assert.equal(cost.params.trainable, trainable, `${model} trainable`);
    assert.equal(cost.params.total, kerasTotal - 7, `${model} total`);
  }
});

test('EfficientNet-EdgeTPU-S and EfficientNetV2-S match their published counts', () => {
  const edge = architectureCost(getPreset('efficientnet-edgetpu-s'));
  // timm efficientnet_es (same block strings, fc24 = i24): 5.44 M parameters, 1.8 GMACs at 224
  assert.equal(edge.params.trainable, 5_438_392);
  assert.ok(Math.abs(edge.macs / 1e9 - 1.8) < 0.05, `EdgeTPU-S macs ${edge.macs}`);
  const v2 = architectureCost(getPreset('efficientnetv2-s'));
  // Keras EfficientNetV2S: Total params 21,612,360 (its Rescaling has no weights); timm tf_efficientnetv2_s 21.46 M
  assert.deepEqual(v2.params, { trainable: 21_458_488, total: 21_612_360 });
  // V2 drops the 10 % rule
  assert.equal(getPreset('efficientnetv2-s').rounding.minFraction, 0);
});

test('micro presets are small and keep the total stride at most 8', () => {
  for (const name of ['micro-28', 'micro-32']) {
    const arch = getPreset(name);
    const cost = architectureCost(arch);
    assert.ok(cost.params.total >= 50_000 && cost.params.total <= 150_000, `${name}: ${cost.params.total}`);
    const stride = arch.stem.stride * arch.stages.reduce((s, st) => s * st.stride, 1);
    assert.ok(stride <= 8, `${name}: total stride ${stride}`);
  }
  assert.equal(getPreset('micro-28').inputChannels, 1);
  assert.equal(getPreset('micro-28').resolution, 28);
  assert.equal(getPreset('micro-32').inputChannels, 3);
});

test('a small network computed by hand', () => {
  const arch = Architecture.parse({
    resolution: 8,
    inputChannels: 1,
    stem: { filters: 8, kernel: 3, stride: 1 },
    stages: [{ op: 'mbconv', repeats: 1, kernel: 3, stride: 1, expandRatio: 2, filters: 8, seRatio: 0.25 }],
    head: { filters: 16 },
    classes: 2,
  });
  const cost = architectureCost(arch);
  assert.deepEqual(
    cost.layers.map((l) => [l.name, l.params.trainable, l.params.total, l.macs]),
    [
      ['stem', 88, 104, 4608],
      ['s0b0.expand', 160, 192, 8192],
      ['s0b0.depthwise', 176, 208, 9216],
      ['s0b0.se', 82, 82, 1088],
      ['s0b0.project', 144, 160, 8192],
      ['s0b0.add', 0, 0, 0],
      ['head', 160, 192, 8192],
      ['pool', 0, 0, 0],
      ['classifier', 34, 34, 32],
    ],
  );
  assert.deepEqual(cost.params, { trainable: 844, total: 972 });
  assert.equal(cost.macs, 39_520);
  // depthwise step: its input and output (8·8·16 floats each) plus the block input held for the residual (8·8·8)
  assert.equal(cost.peakActivationBytes, 4 * (1024 + 1024 + 512));
  assert.deepEqual(cost.layers[5]?.inputs, ['s0b0.project', 'stem']);
});

/** Peak activation from the layer graph alone: a tensor lives from its producer to its last reader. */
function graphPeak(cost: ArchitectureCost, inputBytes: number): number {
  const lastUse = new Map<string, number>();
  cost.layers.forEach((l, i) => l.inputs.forEach((name) => lastUse.set(name, i)));
  const bytes = new Map<string, number>([['input', inputBytes]]);
  const produced = new Map<string, number>([['input', -1]]);
  let peak = 0;
  cost.layers.forEach((l, i) => {
    bytes.set(l.name, l.activationBytes);
    produced.set(l.name, i);
    let live = 0;
    for (const [name, at] of produced) {
      if (at === i || (at < i && (lastUse.get(name) ?? -1) >= i)) live += bytes.get(name) as number;
    }
    peak = Math.max(peak, live);
  });
  return peak;
}

test('layer list: totals add up, connectivity is consistent, the peak equals the graph liveness', () => {
  for (const name of presetNames) {
    const arch = getPreset(name);
    const cost = architectureCost(arch);
    const sum = (f: (l: (typeof cost.layers)[number]) => number) => cost.layers.reduce((s, l) => s + f(l), 0);
    assert.equal(
      sum((l) => l.params.trainable),
      cost.params.trainable,
      name,
    );
    assert.equal(
      sum((l) => l.params.total),
      cost.params.total,
      name,
    );
    assert.equal(
      sum((l) => l.macs),
      cost.macs,
      name,
    );
    const names = new Set(['input']);
    for (const l of cost.layers) {
      for (const input of l.inputs) assert.ok(names.has(input), `${name}: ${l.name} reads unknown ${input}`);
      names.add(l.name);
      assert.equal(l.activationBytes, 4 * l.outputShape[0] * l.outputShape[1] * l.outputShape[2]);
    }
    const inputBytes = 4 * arch.resolution * arch.resolution * arch.inputChannels;
    assert.equal(graphPeak(cost, inputBytes), cost.peakActivationBytes, name);
    const { layers: _layers, ...totals } = cost;
    assert.deepEqual(architectureTotals(arch), totals, `${name}: hot path equals the full cost`);
  }
});

test('output shapes follow same padding: ceil(h / stride)', () => {
  const cost = architectureCost({ ...getPreset('micro-28'), resolution: 30 });
  // stem stride 1 → 30; stage 1 stride 2 → 15; stage 2 stride 2 → 8 (24 input filters expanded ×4)
  assert.deepEqual(cost.layers.find((l) => l.name === 's2b0.depthwise')?.outputShape, [8, 8, 96]);
});
