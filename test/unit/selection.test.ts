import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimate } from '../../search/estimate.js';
import { resolveBaseline } from '../../scaling/input.js';
import { ABLATION_DIMENSIONS, scaleOneDimension } from '../../scaling/ablation.js';
import { architectureTotals } from '../../scaling/cost.js';
import { repeatsOf } from '../../schemas/search.js';
import { searchSpec } from './spec.js';
import { ablationVerdict } from '../../search/ablation.js';
import { mean, spreadOf, tCritical95, tied } from '../../search/noise.js';
import { formatScore } from '../../report/format.js';
import { paretoSet } from '../../search/selection.js';
import { repeatCandidateId } from '../../search/ids.js';

test('repeats: mean and sample spread; fewer than two seeds leave the noise unknown', () => {
  assert.equal(mean([0.6, 0.62, 0.64]), 0.62);
  assert.ok(Math.abs((spreadOf([0.6, 0.62, 0.64]) ?? 0) - 0.02) < 1e-12);
  assert.equal(spreadOf([0.6]), undefined);
  assert.equal(spreadOf(undefined), undefined);
  assert.equal(repeatCandidateId('gabc', 0), 'gabc', 'the first seed keeps the id a single-seed search uses');
  assert.equal(repeatCandidateId('gabc', 2), 'gabc-r2');
});

test('scores print with the precision their spread supports', () => {
  assert.equal(formatScore(0.61234, [0.6, 0.62, 0.64]), '0.612 ± 0.020');
  assert.equal(formatScore(0.8123456), '0.8123');
  assert.equal(formatScore(0.5, [0.5, 0.5]), '0.5000 ± 0.0000');
});

test("Welch's t-test at 95 %: close means with wide spread tie, separated means do not", () => {
  assert.equal(tCritical95(1), 12.706);
  assert.equal(tCritical95(4.7), 2.776, 'fractional df rounds down');
  assert.ok(Math.abs(tCritical95(120) - 1.98) < 0.002);
  // The issue's own numbers: one candidate scored 0.634, 0.596, 0.624 over three runs.
  const noisy = { score: mean([0.634, 0.596, 0.624]), samples: [0.634, 0.596, 0.624] };
  const close = { score: mean([0.64, 0.61, 0.63]), samples: [0.64, 0.61, 0.63] };
  const far = { score: mean([0.71, 0.715, 0.72]), samples: [0.71, 0.715, 0.72] };
  assert.equal(tied(noisy, close), true);
  assert.equal(tied(noisy, far), false);
  assert.equal(tied(noisy, { score: 0.7 }), undefined, 'one seed: unknown');
  assert.equal(tied({ score: 0.5, samples: [0.5, 0.5] }, { score: 0.5, samples: [0.5, 0.5] }), true);
  assert.equal(tied({ score: 0.5, samples: [0.5, 0.5] }, { score: 0.6, samples: [0.6, 0.6] }), false);
});

test('the Pareto set keeps candidates no other beats on both score and multiply-adds, cheapest first', () => {
  const c = (macs: number, score: number) => ({ macs, score });
  const all = [c(10, 0.7), c(12, 0.69), c(8, 0.6), c(15, 0.75), c(15, 0.74), c(9, 0.6)];
  assert.deepEqual(paretoSet(all, true), [c(8, 0.6), c(10, 0.7), c(15, 0.75)]);
  // Loss: lower is better.
  assert.deepEqual(paretoSet([c(10, 0.3), c(12, 0.2), c(11, 0.4)], false), [c(10, 0.3), c(12, 0.2)]);
});

test('selection rules validate: max-under needs a limit, limits belong to max-under', () => {
  assert.equal(searchSpec().selection, undefined);
  assert.equal(searchSpec({ selection: { rule: 'max-under', maxMacs: 3e6 } }).selection?.maxMacs, 3e6);
  assert.throws(() => searchSpec({ selection: { rule: 'max-under' } }), /max-under needs maxMacs/);
  assert.throws(() => searchSpec({ selection: { rule: 'pareto', maxMacs: 1 } }), /limits apply to rule max-under only/);
  assert.throws(() => searchSpec({ task: { dataset: { format: 'fashion-mnist' }, repeats: 0 } }), /repeats/);
});

test('repeats multiply the estimated work: each seed is a training', () => {
  const size = { train: 1000, validation: 100, classes: 10 };
  const one = estimate(searchSpec(), [1e6, 2e6], size, null);
  const three = estimate(
    searchSpec({ task: { dataset: { format: 'fashion-mnist' }, repeats: 3 } }),
    [1e6, 2e6],
    size,
    null,
  );
  assert.equal(repeatsOf(searchSpec()), 1);
  assert.equal(three.work, 3 * one.work);
  assert.equal(three.worst, 3 * one.worst);
});

test('single-dimension arms reach the real multiply-adds of a compound member, each along its own dimension', () => {
  const baseline = resolveBaseline('micro-28', 'baseline');
  const base = architectureTotals(baseline).macs;
  for (const target of [2 * base, 4 * base]) {
    for (const dimension of ABLATION_DIMENSIONS) {
      const arm = scaleOneDimension(baseline, dimension, target);
      const others = ABLATION_DIMENSIONS.filter((d) => d !== dimension);
      for (const d of others) assert.equal(arm.factors[d], 1, `${dimension}-only keeps ${d} at 1`);
      assert.ok(arm.factors[dimension] > 1);
      assert.equal(arm.macs, architectureTotals(arm.architecture).macs);
      // Rounding makes cost a step function; the arm is the step closest to the target, within a step of it.
      const off = Math.abs(arm.macs - target) / target;
      assert.ok(off < 0.25, `${dimension}-only at ×${target / base}: real ×${(arm.macs / base).toFixed(2)}`);
    }
  }
  assert.equal(scaleOneDimension(baseline, 'width', base / 2).factors.width, 1, 'never scaled down');
});

test('the ablation verdict says who won, by how much, and whether beyond the noise', () => {
  const arms = [
    { name: 'baseline', score: 0.7 },
    { name: 'depth-only', score: 0.75 },
    { name: 'width-only', score: 0.78 },
    { name: 'resolution-only', score: 0.76 },
  ];
  assert.equal(
    ablationVerdict({ name: 'phi1', score: 0.8 }, arms, true, undefined),
    'compound scaling (phi1, 0.8000) won by 0.0200 against the best single dimension (width-only, 0.7800) ' +
      '(noise unknown: task.repeats > 1 measures it)',
  );
  assert.match(ablationVerdict({ name: 'phi1', score: 0.8 }, arms, true, [0.6, 0.64]), /within the noise/);
  assert.match(ablationVerdict({ name: 'phi1', score: 0.8 }, arms, true, [0.6, 0.601]), /beyond the noise/);
  assert.match(
    ablationVerdict({ name: 'phi1', score: 0.3 }, [{ name: 'width-only', score: 0.2 }], false, undefined),
    /lost by 0.1000/,
  );
  assert.match(ablationVerdict({ name: 'phi1' }, arms, true, undefined), /did not finish/);
});
