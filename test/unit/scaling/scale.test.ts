import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { getPreset, presetNames } from '../../../scaling/presets.js';
import {
  architectureKey,
  costMultiplier,
  scaleArchitecture,
  scalingFactors,
  scalingKey,
} from '../../../scaling/scale.js';
import { SpecError } from '../../../scaling/validate.js';

const paper = { alpha: 1.2, beta: 1.1, gamma: 1.15 };

test('equation 3: d = α^φ, w = β^φ, r = γ^φ', () => {
  assert.deepEqual(scalingFactors('exponential', paper, 1), { depth: 1.2, width: 1.1, resolution: 1.15 });
  const f = scalingFactors('exponential', paper, 3);
  assert.equal(f.depth, 1.2 ** 3);
  assert.equal(f.width, 1.1 ** 3);
  assert.equal(f.resolution, 1.15 ** 3);
  assert.deepEqual(scalingFactors('exponential', paper, 0), { depth: 1, width: 1, resolution: 1 });
});

test('equation 4: d = 1 + α·φ, w = 1 + β·φ, r = 1 + γ·φ', () => {
  assert.deepEqual(scalingFactors('linear', { alpha: 0.2, beta: 0.1, gamma: 0.15 }, 2), {
    depth: 1.4,
    width: 1.2,
    resolution: 1.3,
  });
  assert.throws(
    () => scalingFactors('linear', { alpha: 0.5, beta: 0.1, gamma: 0.1 }, -2),
    (e: unknown) => e instanceof SpecError && /depth factor of 0/.test(e.message),
  );
});

test('the cost multiplier is d·w²·r², ≈ 2 for the paper coefficients at φ = 1', () => {
  const m = costMultiplier(scalingFactors('exponential', paper, 1));
  assert.ok(Math.abs(m - 1.2 * 1.1 ** 2 * 1.15 ** 2) < 1e-12);
  assert.ok(Math.abs(m - 2) / 2 < 0.05);
});

test('scaling B0 by the paper coefficients at φ = 1 rounds every dimension the reference way', () => {
  const b1 = scaleArchitecture(getPreset('efficientnet-b0'), scalingFactors('exponential', paper, 1));
  assert.equal(b1.resolution, 258); // 224 · 1.15 = 257.6
  assert.deepEqual(
    b1.stages.map((s) => [s.repeats, s.filters]),
    [
      [2, 16],
      [3, 24],
      [3, 48],
      [4, 88],
      [4, 120],
      [5, 208],
      [2, 352],
    ],
  );
  assert.equal(b1.stem.filters, 32);
  assert.equal(b1.head.filters, 1408);
  assert.equal(b1.classes, 1000);
});

test('input filters of a block string are scaled like the others', () => {
  const edge = scaleArchitecture(getPreset('efficientnet-edgetpu-s'), { depth: 1, width: 1.5, resolution: 1 });
  assert.equal(edge.stages[0]?.inputFilters, 40); // 24 · 1.5 = 36 → 40 (the midpoint rounds up)
  assert.equal(edge.stem.filters, 48);
});

test('scalingKey separates scalings exactly as the full architecture key does (property)', () => {
  const factor = fc.double({ min: 0.5, max: 3, noNaN: true });
  for (const name of presetNames) {
    const baseline = getPreset(name);
    fc.assert(
      fc.property(factor, factor, factor, factor, factor, factor, (d1, w1, r1, d2, w2, r2) => {
        const a = { depth: d1, width: w1, resolution: r1 };
        const b = { depth: d2, width: w2, resolution: r2 };
        const sameFull =
          architectureKey(scaleArchitecture(baseline, a)) === architectureKey(scaleArchitecture(baseline, b));
        assert.equal(scalingKey(baseline, a) === scalingKey(baseline, b), sameFull);
      }),
      { numRuns: 50 },
    );
  }
});
