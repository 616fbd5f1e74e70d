import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planGrid } from '../../../scaling/grid.js';
import { getPreset } from '../../../scaling/presets.js';
import { architectureKey, costMultiplier, scalingFactors } from '../../../scaling/scale.js';
import { SpecError } from '../../../scaling/validate.js';

const micro = getPreset('micro-28');
const b0 = getPreset('efficientnet-b0');
const range = (step: number) => ({ min: 1, max: 2, step });

test('every candidate meets the constraint, α, β, γ >= 1, and the grid misses none', () => {
  const plan = planGrid(b0, { phi: 1, alpha: range(0.05), beta: range(0.05), gamma: range(0.05), tolerance: 0.05 });
  assert.equal(plan.pointsEvaluated, 21 ** 3);
  let brute = 0;
  for (let i = 0; i <= 20; i++)
    for (let j = 0; j <= 20; j++)
      for (let k = 0; k <= 20; k++) {
        const c = {
          alpha: Number((1 + i * 0.05).toFixed(10)),
          beta: Number((1 + j * 0.05).toFixed(10)),
          gamma: Number((1 + k * 0.05).toFixed(10)),
        };
        if (Math.abs(costMultiplier(scalingFactors('exponential', c, 1)) - 2) <= 0.1 + 1e-12) brute++;
      }
  assert.equal(plan.candidates.length, brute);
  assert.ok(brute > 50);
  for (const c of plan.candidates) {
    assert.ok(c.alpha >= 1 && c.beta >= 1 && c.gamma >= 1);
    assert.ok(Math.abs(c.costMultiplier - 2) <= 0.1 + 1e-12);
    assert.ok(Math.abs(c.alpha * c.beta ** 2 * c.gamma ** 2 - 2) <= 0.1 + 1e-12);
  }
  assert.ok(
    plan.candidates.some((c) => c.alpha === 1.2 && c.beta === 1.1 && c.gamma === 1.15),
    'the paper point',
  );
});

test('candidates with identical rounded architectures share a dedup group', () => {
  const plan = planGrid(micro, { alpha: range(0.05), beta: range(0.05), gamma: range(0.05), tolerance: 0.05 });
  const groupOf = new Map<string, number>();
  for (const c of plan.candidates) {
    const key = architectureKey(c.architecture);
    if (!groupOf.has(key)) groupOf.set(key, c.dedupGroup);
    assert.equal(groupOf.get(key), c.dedupGroup, 'same architecture, same group');
  }
  assert.equal(new Set(groupOf.values()).size, groupOf.size, 'different architectures, different groups');
  assert.equal(plan.groupCount, groupOf.size);
  assert.ok(plan.groupCount < plan.candidates.length, 'rounding makes some grid points identical');
});

test('candidates over the target resources are excluded with the reason', () => {
  const all = planGrid(micro, { alpha: range(0.1), beta: range(0.1), gamma: range(0.1) });
  const macs = all.candidates.map((c) => c.cost.macs).sort((a, b) => a - b);
  const maxMacs = macs[Math.floor(macs.length / 2)] as number;
  const plan = planGrid(micro, { alpha: range(0.1), beta: range(0.1), gamma: range(0.1), limits: { maxMacs } });
  for (const c of plan.candidates) {
    if (c.cost.macs > maxMacs) assert.match(c.excluded ?? '', /^macs [\d,]+ > maxMacs [\d,]+$/);
    else assert.equal(c.excluded, undefined);
  }
  assert.ok(plan.trainCount > 0 && plan.trainCount < plan.groupCount);
  assert.equal(plan.emptyReason, undefined);
});

test('an empty grid explains why: tolerance too tight for the step, with the closest point', () => {
  const plan = planGrid(b0, { alpha: range(0.3), beta: range(0.3), gamma: range(0.3), tolerance: 0.001 });
  assert.equal(plan.candidates.length, 0);
  assert.match(plan.emptyReason ?? '', /no grid point of 64 satisfies/);
  assert.match(plan.emptyReason ?? '', /closest multiplier is 1.9 at alpha=1.9, beta=1, gamma=1/);
  assert.match(plan.emptyReason ?? '', /raise the tolerance to at least 0.0501 or use a finer step/);
  const over = planGrid(micro, { alpha: range(0.1), beta: range(0.1), gamma: range(0.1), limits: { maxMacs: 1000 } });
  assert.match(over.emptyReason ?? '', /all \d+ candidates .* exceed the resource limits/);
});

test('seeded random sampling is reproducible and meets the constraint', () => {
  const opts = { random: { count: 40, seed: 7 }, tolerance: 0.01 };
  const a = planGrid(micro, opts);
  const b = planGrid(micro, opts);
  const c = planGrid(micro, { ...opts, random: { count: 40, seed: 8 } });
  assert.equal(a.candidates.length, 40);
  assert.deepEqual(
    a.candidates.map((x) => [x.alpha, x.beta, x.gamma]),
    b.candidates.map((x) => [x.alpha, x.beta, x.gamma]),
  );
  assert.notDeepEqual(
    a.candidates.map((x) => [x.alpha, x.beta, x.gamma]),
    c.candidates.map((x) => [x.alpha, x.beta, x.gamma]),
  );
  for (const x of a.candidates) {
    assert.ok(Math.abs(x.costMultiplier - 2) <= 0.02 + 1e-12);
    assert.ok(x.alpha >= 1 && x.beta >= 1 && x.gamma >= 1 && x.gamma <= 2);
  }
});

test('the linear rule searches slopes under the same resource statement', () => {
  const slopes = { min: 0, max: 1, step: 0.05 };
  const plan = planGrid(micro, { rule: 'linear', phi: 2, alpha: slopes, beta: slopes, gamma: slopes, tolerance: 0.05 });
  assert.ok(plan.candidates.length > 0);
  for (const c of plan.candidates) {
    const f = c.factors;
    assert.ok(Math.abs(f.depth - (1 + 2 * c.alpha)) < 1e-12);
    assert.ok(Math.abs(costMultiplier(f) - 4) <= 0.2 + 1e-12);
  }
});

test('bad grid options name the field', () => {
  const named = (pattern: RegExp) => (e: unknown) => e instanceof SpecError && pattern.test(e.message);
  assert.throws(
    () => planGrid(micro, { alpha: { min: 0.5, max: 2, step: 0.1 } }),
    named(/alpha\.min: the exponential rule needs alpha >= 1/),
  );
  assert.throws(() => planGrid(micro, { tolerance: -1 }), named(/tolerance/));
  assert.throws(() => planGrid(micro, { beta: { min: 2, max: 1, step: 0.1 } }), named(/beta: min must be <= max/));
  assert.throws(() => planGrid(micro, { gamma: { min: 1, max: 2, step: 0 } }), named(/gamma\.step/));
  assert.throws(
    () => planGrid(micro, { alpha: range(1e-4), beta: range(1e-4), gamma: range(1e-4) }),
    named(/maxPoints/),
  );
  assert.throws(() => planGrid(micro, { rule: 'cubic' } as never), named(/rule/));
});

test('the measured constraint keeps the points whose rounded architectures really cost 2^φ ± tolerance', () => {
  const grid = { phi: 1, alpha: range(0.1), beta: range(0.1), gamma: range(0.1), tolerance: 0.12 };
  const within = (m: number) => Math.abs(m - 2) / 2 <= 0.12 + 1e-12;
  const nominal = planGrid(micro, grid);
  // On a small baseline rounding moves real costs far from d·w²·r²: some nominal points are off the target.
  assert.ok(nominal.candidates.some((c) => !within(c.measuredMultiplier)));
  const measured = planGrid(micro, { ...grid, constraint: 'measured' });
  assert.ok(measured.candidates.length > 0);
  assert.ok(measured.candidates.every((c) => within(c.measuredMultiplier)));
  assert.ok(
    measured.candidates.some((c) => !within(c.costMultiplier)),
    'it admits points the nominal rule rejects',
  );
  assert.equal(measured.groupCount, new Set(measured.candidates.map((c) => c.dedupGroup)).size);
  const none = planGrid(micro, { ...grid, constraint: 'measured', tolerance: 0.0001 });
  assert.match(none.emptyReason ?? '', /real MACs \/ baseline MACs/);
});
