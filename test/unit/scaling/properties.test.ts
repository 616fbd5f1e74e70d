import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { architectureTotals } from '../../../scaling/cost.js';
import { getPreset } from '../../../scaling/presets.js';
import { costMultiplier, scaleArchitecture, scalingFactors } from '../../../scaling/scale.js';

const presets = ['efficientnet-b0', 'micro-28', 'micro-32', 'efficientnetv2-s'].map(getPreset);
const factor = fc.double({ min: 0.5, max: 2.5, noNaN: true });
const bump = fc.double({ min: 0, max: 1, noNaN: true });

test('every cost grows (never shrinks) with each factor alone (property)', () => {
  for (const baseline of presets) {
    fc.assert(
      fc.property(
        factor,
        factor,
        factor,
        bump,
        fc.constantFrom('depth', 'width', 'resolution'),
        (d, w, r, up, which) => {
          const f = { depth: d, width: w, resolution: r };
          const g = { ...f, [which]: f[which as keyof typeof f] + up };
          const a = architectureTotals(scaleArchitecture(baseline, f));
          const b = architectureTotals(scaleArchitecture(baseline, g));
          assert.ok(b.macs >= a.macs, `macs ${which}`);
          assert.ok(b.params.total >= a.params.total, `params ${which}`);
          assert.ok(b.paramBytes >= a.paramBytes, `param bytes ${which}`);
          assert.ok(b.peakActivationBytes >= a.peakActivationBytes, `activation ${which}`);
        },
      ),
      { numRuns: 60 },
    );
  }
});

test('under the constraint α·β²·γ² = 2, multiply-adds grow close to 2^φ (property)', () => {
  const b0 = getPreset('efficientnet-b0');
  const base = architectureTotals(b0).macs;
  // Grid-aligned coefficients (two decimals), as the grid search produces them.
  const coefficient = fc.integer({ min: 100, max: 140 }).map((x) => x / 100);
  fc.assert(
    fc.property(coefficient, coefficient, fc.integer({ min: 1, max: 5 }), (alpha, beta, phi) => {
      const gamma = Math.sqrt(2 / (alpha * beta * beta));
      fc.pre(gamma >= 1);
      const macs = architectureTotals(
        scaleArchitecture(b0, scalingFactors('exponential', { alpha, beta, gamma }, phi)),
      ).macs;
      const ratio = macs / base / 2 ** phi;
      // Not exactly 1: ceil on repeats adds a whole layer to every stage as soon as d > 1 (worst at α = 1.01,
      // up to ×1.7), channels round to multiples of 8, and the 3 input channels and classifier do not scale.
      assert.ok(ratio > 0.85 && ratio < 1.8, `alpha=${alpha} beta=${beta} phi=${phi}: ratio ${ratio}`);
    }),
    { numRuns: 120 },
  );
  for (const phi of [1, 2, 3, 4, 5, 6]) {
    const paper = scalingFactors('exponential', { alpha: 1.2, beta: 1.1, gamma: 1.15 }, phi);
    // α·β²·γ² = 1.92 for the paper's values, so their family grows like 1.92^φ, not 2^φ
    const ratio = architectureTotals(scaleArchitecture(b0, paper)).macs / base / costMultiplier(paper);
    assert.ok(ratio > 0.95 && ratio < 1.35, `paper coefficients, phi=${phi}: ratio ${ratio}`);
  }
});
