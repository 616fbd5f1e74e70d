import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PlannedTraining, TrainingRecord } from '../../search/types.js';
import { checkBudget, estimate, expectedEpochs } from '../../search/estimate.js';
import { rungEpochs, type SearchSpecInput } from '../../schemas/search.js';
import { searchSpec } from './spec.js';
import { nextPromotion, rungCounts } from '../../search/halving.js';

const halving = (h: object, epochs = 9) =>
  searchSpec({ training: { epochs }, scaling: { grid: { strategy: 'halving', halving: h } } });

test('rungs grow by η from minEpochs and end at maxEpochs; exhaustive is one rung', () => {
  assert.deepEqual(rungEpochs(halving({ eta: 3, minEpochs: 1 })), [1, 3, 9]);
  assert.deepEqual(rungEpochs(halving({ eta: 3, minEpochs: 1 }, 10)), [1, 3, 9, 10]);
  assert.deepEqual(rungEpochs(halving({ eta: 2, minEpochs: 2, maxEpochs: 8 }, 1)), [2, 4, 8]);
  assert.deepEqual(rungEpochs(searchSpec({ training: { epochs: 4 } })), [4]);
  assert.throws(() => halving({ minEpochs: 5 }, 3), /minEpochs/);
});

test('the expected epochs per training count rung k for 1/η^k of the trainings', () => {
  assert.equal(expectedEpochs([9], 3), 9);
  // 1 epoch for all, 2 more for a third, 6 more for a ninth.
  assert.equal(expectedEpochs([1, 3, 9], 3), 1 + 2 / 3 + 6 / 9);
});

function trainings(n: number): PlannedTraining[] {
  return Array.from({ length: n }, (_, i) => ({
    group: `g${i}`,
    index: i,
    macs: 1000 + i,
    alpha: 1,
    beta: 1,
    gamma: 1,
  }));
}

test('ASHA promotes as soon as a candidate is in the top 1/η of its rung, highest rung first', () => {
  const ts = trainings(6);
  const records = new Map<string, TrainingRecord>(ts.map((t) => [t.group, { state: 'pending' }]));
  const finish = (i: number, ...scores: number[]) =>
    records.set(`g${i}`, { state: 'succeeded', rung: scores.length - 1, scores, score: scores[scores.length - 1] });
  finish(0, 0.5);
  finish(1, 0.7);
  assert.equal(nextPromotion(ts, records, 3, 3, true), undefined, 'two results: no top third yet');
  finish(2, 0.6);
  assert.deepEqual(nextPromotion(ts, records, 3, 3, true), { training: ts[1], rung: 1 });
  records.set('g1', { state: 'running', rung: 1, scores: [0.7] });
  assert.equal(nextPromotion(ts, records, 3, 3, true), undefined, 'the promoted one is not promoted twice');
  finish(3, 0.9);
  finish(4, 0.1);
  finish(5, 0.2);
  // Rung 0 has 6 results: its top 2 are g3 and g1; g1 is already promoted, so g3 goes.
  assert.deepEqual(nextPromotion(ts, records, 3, 3, true), { training: ts[3], rung: 1 });
  finish(1, 0.7, 0.8);
  finish(3, 0.9, 0.85);
  finish(0, 0.5, 0.95); // a straggler promoted by an earlier rule: rung 1 now has 3 results
  const promoted = nextPromotion(ts, records, 3, 3, true);
  assert.deepEqual(promoted, { training: ts[0], rung: 2 }, 'rung 1 is served before rung 0');
  assert.equal(nextPromotion(ts, records, 3, 3, false)?.rung, 2, 'a loss-type metric promotes the lowest');
});

test('once a rung can get no more results, its best is promoted even with fewer than η of them', () => {
  const ts = trainings(4);
  const records = new Map<string, TrainingRecord>([
    ['g0', { state: 'succeeded', rung: 1, scores: [0.9, 0.91] }],
    ['g1', { state: 'succeeded', rung: 1, scores: [0.8, 0.95] }],
    ['g2', { state: 'running', rung: 0 }],
    ['g3', { state: 'succeeded', rung: 0, scores: [0.1] }],
  ]);
  assert.equal(nextPromotion(ts, records, 3, 3, true), undefined, 'rung 1 may still get g2');
  records.set('g2', { state: 'succeeded', rung: 0, scores: [0.2] });
  assert.deepEqual(nextPromotion(ts, records, 3, 3, true), { training: ts[1], rung: 2 });
});

test('one rung (exhaustive) never promotes, and failures are not promoted', () => {
  const ts = trainings(3);
  const records = new Map<string, TrainingRecord>(
    ts.map((t, i) => [t.group, { state: 'succeeded', rung: 0, scores: [i], score: i }]),
  );
  assert.equal(nextPromotion(ts, records, 1, 3, true), undefined);
  records.set('g2', { state: 'failed', rung: 1, scores: [2] });
  assert.equal(nextPromotion(ts, records, 2, 3, true), undefined);
});

test('rung counts say how many finished and are training each rung', () => {
  const counts = rungCounts(
    [
      { state: 'succeeded', rung: 1, scores: [0.1, 0.2] },
      { state: 'running', rung: 1, scores: [0.3] },
      { state: 'pending' },
    ],
    [1, 3],
  );
  assert.deepEqual(counts, [
    { epochs: 1, finished: 2, running: 0 },
    { epochs: 3, finished: 1, running: 1 },
  ]);
});

test('a plan over the budget is refused with the figures and the ways out; proceed lets it start', () => {
  const over = (budget: object) =>
    searchSpec({ execution: { budget, parallelism: 2 } as SearchSpecInput['execution'], training: { epochs: 3 } });
  const size = { train: 1000, validation: 100 };
  const throughput = { macsPerSecond: 1e9, source: 'test' };
  // 4 trainings of 1e6 MACs × 3 epochs × 3100 image passes = 3.72e10 MACs: 37.2 s at 1 GMAC/s.
  const e = estimate(over({ gpuHours: 1 }), [1e6, 1e6, 1e6, 1e6], size, throughput);
  assert.equal(e.deviceSeconds, 37.2);
  assert.equal(e.wallSeconds, 18.6);
  assert.equal(checkBudget(over({ gpuHours: 1 }), e), null);
  const refused = checkBudget(over({ gpuHours: 0.005 }), e);
  assert.match(refused ?? '', /execution\.budget\.gpuHours 0\.005/);
  assert.match(refused ?? '', /halving/);
  assert.match(checkBudget(over({ wallTime: '10s' }), e) ?? '', /wallTime 10s/);
  assert.equal(checkBudget(over({ gpuHours: 0.005, proceed: true }), e), null);
  assert.equal(
    checkBudget(over({ gpuHours: 0.005 }), estimate(over({ wallTime: '1s' }), [1e6], size, null)),
    null,
    'no figure',
  );
});

test('under selection max-under, halving never promotes a candidate over its cost limits', () => {
  const ts = trainings(3).map((t, i) => ({ ...t, macs: (i + 1) * 1e6, params: (i + 1) * 1e3 }));
  const records = new Map<string, TrainingRecord>(
    ts.map((t, i) => [t.group, { state: 'succeeded', rung: 0, scores: [0.5 + i / 10], score: 0.5 + i / 10 }]),
  );
  // g2 scores best but costs 3 M: over the limit, it is not in the rung's ranking, so g1 is promoted.
  assert.deepEqual(nextPromotion(ts, records, 2, 3, true), { training: ts[2], rung: 1 });
  assert.deepEqual(nextPromotion(ts, records, 2, 3, true, { maxMacs: 2.5e6 }), { training: ts[1], rung: 1 });
  assert.deepEqual(nextPromotion(ts, records, 2, 3, true, { maxParams: 1.5e3 }), { training: ts[0], rung: 1 });
  assert.equal(nextPromotion(ts, records, 2, 3, true, { maxMacs: 1 }), undefined, 'none eligible: none promoted');
});
