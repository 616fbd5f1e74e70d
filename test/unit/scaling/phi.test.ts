import assert from 'node:assert/strict';
import { test } from 'node:test';
import { architectureTotals } from '../../../scaling/cost.js';
import { memberForRealCost, phiForTarget, phiFromMultiplier, scaleFamily } from '../../../scaling/phi.js';
import { getPreset } from '../../../scaling/presets.js';
import { scaleArchitecture, scalingFactors } from '../../../scaling/scale.js';
import { SpecError } from '../../../scaling/validate.js';

const paper = { alpha: 1.2, beta: 1.1, gamma: 1.15 };
const b0 = getPreset('efficientnet-b0');
const macsAt = (phi: number) =>
  architectureTotals(scaleArchitecture(b0, scalingFactors('exponential', paper, phi))).macs;

test('φ from a multiplier N is log2 N', () => {
  assert.equal(phiFromMultiplier(4), 2);
  assert.equal(phiFromMultiplier(32), 5);
  assert.equal(phiFromMultiplier(1), 0);
  assert.throws(() => phiFromMultiplier(0), SpecError);
  assert.throws(() => phiFromMultiplier(Number.NaN), SpecError);
});

test('the largest integer φ under a multiply-add budget, with the binding limit', () => {
  const budget = (macsAt(3) + macsAt(4)) / 2;
  const r = phiForTarget(b0, paper, 'exponential', { maxMacs: budget });
  assert.equal(r.phi, 3);
  assert.equal(r.binding, 'maxMacs');
  assert.equal(r.cost.macs, macsAt(3));
  assert.equal(r.next?.phi, 4);
  assert.match(r.next?.reason ?? '', /macs .* > maxMacs/);
  assert.equal(r.reachedMaxPhi, false);
});

test('φ to a given precision fits, and one more step does not', () => {
  const budget = 2e9;
  const r = phiForTarget(b0, paper, 'exponential', { maxMacs: budget }, { precision: 0.01 });
  assert.ok(r.cost.macs <= budget);
  assert.ok(macsAt(r.phi + 0.01) > budget);
  assert.ok(Number.isInteger(Math.round(r.phi * 100)) && r.phi > 1 && r.phi < 3, `phi ${r.phi}`);
});

test('the tighter limit binds', () => {
  const r = phiForTarget(b0, paper, 'exponential', { maxMacs: 1e12, maxParamBytes: 40e6 });
  assert.equal(r.binding, 'maxParamBytes');
  assert.ok(r.cost.paramBytes <= 40e6);
  const a = phiForTarget(b0, paper, 'exponential', { maxActivationBytes: 20e6 });
  assert.equal(a.binding, 'maxActivationBytes');
  assert.ok(a.cost.peakActivationBytes <= 20e6);
});

test('a clear error when even the baseline does not fit, or no limit is given', () => {
  assert.throws(
    () => phiForTarget(b0, paper, 'exponential', { maxMacs: 1e8 }),
    (e: unknown) =>
      e instanceof SpecError && /even phi=0 \(the baseline\).*macs 388,121,280 > maxMacs 100,000,000/.test(e.message),
  );
  assert.throws(() => phiForTarget(b0, paper, 'exponential', {}), /at least one of maxMacs/);
  assert.throws(
    () => phiForTarget(b0, { alpha: 0.9, beta: 1, gamma: 1 }, 'exponential', { maxMacs: 1e9 }),
    /alpha=0.9/,
  );
});

test('reaching maxPhi is reported; negative φ scales down', () => {
  const r = phiForTarget(b0, paper, 'exponential', { maxMacs: 1e15 }, { maxPhi: 2 });
  assert.equal(r.phi, 2);
  assert.equal(r.reachedMaxPhi, true);
  const down = phiForTarget(b0, paper, 'exponential', { maxMacs: 2e8 }, { minPhi: -3 });
  assert.ok(down.phi < 0 && down.cost.macs <= 2e8, `phi ${down.phi}`);
});

test('a family for a list of φ grows in every cost', () => {
  const family = scaleFamily(b0, paper, 'exponential', [0, 1, 2, 3]);
  assert.equal(family[0]?.cost.macs, 388_121_280);
  for (let i = 1; i < family.length; i++) {
    const [prev, cur] = [family[i - 1]?.cost, family[i]?.cost];
    assert.ok(cur && prev && cur.macs > prev.macs && cur.paramBytes > prev.paramBytes);
  }
});

test('a member chosen by real cost is the φ whose rounded architecture costs closest to 2^φ × the baseline', () => {
  const micro = getPreset('micro-28');
  const base = architectureTotals(micro).macs;
  const coeffs = { alpha: 1, beta: 1.2, gamma: 1.2 };
  for (const phi of [1, 3]) {
    const nominal = scaleFamily(micro, coeffs, 'exponential', [phi])[0];
    const real = memberForRealCost(micro, coeffs, 'exponential', phi);
    const off = (m: typeof real) => Math.abs(m.cost.macs / base - 2 ** phi) / 2 ** phi;
    assert.ok(nominal && off(nominal) > 0.08, `nominal φ=${phi} is off by ${off(nominal as typeof real)}`);
    assert.ok(off(real) < off(nominal as typeof real) && off(real) <= 0.08, `real φ=${real.phi} off by ${off(real)}`);
  }
});
