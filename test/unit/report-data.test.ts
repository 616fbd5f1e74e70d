import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CandidateRow } from '../../store/candidate-table.js';
import { epochTicks } from '../../report/charts.js';
import {
  CANDIDATE_CURVES,
  chanceScore,
  curvedCandidates,
  heatmapCells,
  REPORT_ROWS,
  reportData,
  rungLabel,
} from '../../report/data.js';
import { SearchSpec } from '../../schemas/search.js';
import { initialState, type SearchResult } from '../../search/state.js';
import type { BestCandidate } from '../../search/types.js';

/** A 100k-point search's report draws a sample that keeps the best and the failures, and counts everything. */
test('the report samples a large candidate table and keeps the leaders and failures', () => {
  const spec = SearchSpec.parse({
    name: 'large',
    baseline: { preset: 'micro-28' },
    task: { dataset: { format: 'fashion-mnist', path: '/usr/share/datasets/fashion-mnist' } },
  });
  const table: CandidateRow[] = Array.from({ length: 100_000 }, (_, index) => ({
    index,
    alpha: 1 + (index % 100) / 100,
    beta: 1 + (Math.floor(index / 100) % 100) / 100,
    gamma: 1.2,
    group: `g${index}`,
    macs: 1e6 + index,
    params: 1000,
    ...(index % 997 === 5
      ? { state: 'failed' as const, error: `crash ${index}` }
      : { state: 'succeeded' as const, score: ((index * 7919) % 1000) / 1000 }),
  }));
  const leaders: BestCandidate[] = [...table]
    .filter((c) => c.score !== undefined)
    .sort((a, b) => (b.score ?? 0) - (a.score ?? 0) || a.macs - b.macs)
    .slice(0, 10)
    .map((c) => ({
      alpha: c.alpha,
      beta: c.beta,
      gamma: c.gamma,
      score: c.score ?? 0,
      macs: c.macs,
      index: c.index,
      group: c.group,
    }));
  const result: SearchResult = {
    searchId: 'large',
    name: 'large',
    specHash: 'x',
    status: 'completed',
    best: leaders[0],
    spend: { seconds: 0, work: 0 },
    state: { ...initialState(8, 0), stage: 'done', points: table.length, trainings: table.length, leaders },
  };
  const data = reportData(result, spec, table, []);
  assert.equal(data.sampled, true);
  assert.ok(data.candidates.length <= REPORT_ROWS, `${data.candidates.length} rows drawn`);
  assert.ok(data.candidates.length > REPORT_ROWS * 0.9, 'the sample uses its budget');
  const shown = new Set(data.candidates.map((c) => c.index));
  for (const l of leaders) assert.ok(shown.has(l.index), `leader ${l.index} drawn`);
  assert.ok(data.candidates.filter((c) => c.state === 'failed').length >= 50, 'failures kept');
  assert.deepEqual(data.totals, {
    points: 100_000,
    trainings: 100_000,
    scored: table.filter((c) => c.score !== undefined).length,
    excluded: 0,
    failed: table.filter((c) => c.state === 'failed').length,
  });
  const order = data.candidates.map((c) => c.index);
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
    'grid order',
  );
});

/** A halving search's rows, as the candidate table gives them, in every state a rung can leave them. */
function halvingTable(): CandidateRow[] {
  const row = (index: number, rest: Partial<CandidateRow>): CandidateRow => ({
    index,
    alpha: 1 + index / 10,
    beta: 1.1,
    gamma: 1.15,
    group: `g${index}`,
    macs: 1e6 * (index + 1),
    params: 1000,
    state: 'succeeded',
    ...rest,
  });
  return [
    row(0, { rung: 2, scores: [0.6, 0.7, 0.8], score: 0.8 }),
    row(1, { state: 'cancelled', rung: 2, scores: [0.65, 0.72], score: 0.72 }),
    // A table written before rungs existed: its one score, no scores.
    row(2, { score: 0.5 }),
    row(3, { rung: 0, scores: [0.55], score: 0.55 }),
    row(4, { state: 'pending', rung: 0 }),
    row(5, { group: 'g0', sharesTrainingOf: 0, rung: 2, scores: [0.6, 0.7, 0.8], score: 0.8 }),
    row(6, { state: 'excluded', excluded: 'multiply-adds above the limit' }),
  ];
}

test('the report shapes rungs, per-rung scores, spend and a budget stop', () => {
  const spec = SearchSpec.parse({
    name: 'halving',
    baseline: { preset: 'micro-28' },
    task: { dataset: { format: 'fashion-mnist', path: '/usr/share/datasets/fashion-mnist' } },
    training: { epochs: 9 },
    scaling: { grid: { strategy: 'halving', halving: { eta: 3, minEpochs: 1 } } },
    execution: { budget: { gpuHours: 1 } },
  });
  const table = halvingTable();
  const best: BestCandidate = {
    alpha: 1,
    beta: 1.1,
    gamma: 1.15,
    score: 0.8,
    rung: 2,
    macs: 1e6,
    index: 0,
    group: 'g0',
  };
  const result: SearchResult = {
    searchId: 'halving',
    name: 'halving',
    specHash: 'x',
    status: 'completed',
    best,
    spend: { seconds: 3700, work: 42 },
    state: { ...initialState(2, 0), stage: 'done', stoppedBy: 'budget', work: 100, leaders: [best] },
  };
  const data = reportData(result, spec, table, []);
  assert.deepEqual(data.strategy, { kind: 'halving', rungEpochs: [1, 3, 9], eta: 3 });
  assert.deepEqual(
    data.candidates.map((c) => c.scores),
    [[0.6, 0.7, 0.8], [0.65, 0.72], [0.5], [0.55], [], [0.6, 0.7, 0.8], []],
  );
  assert.deepEqual(data.spend, { seconds: 3700, work: 42 });
  assert.equal(data.plannedWork, 100);
  assert.equal(data.stoppedBy, 'budget');
  assert.equal(data.budget?.gpuHours, 1);
  assert.equal(rungLabel(data.strategy, 1), 'rung 1 of 3 (1 epoch)');
  assert.equal(rungLabel(data.strategy, 3), 'rung 3 of 3 (9 epochs)');

  // Curves: the most rungs first, then the best last score (by the metric's direction), one per training.
  assert.deepEqual(
    curvedCandidates(table, true).map((c) => c.index),
    [0, 1, 3, 2],
  );
  assert.deepEqual(
    curvedCandidates(table, false).map((c) => c.index),
    [0, 1, 2, 3],
  );
  const many = Array.from({ length: CANDIDATE_CURVES + 10 }, (_, i) => ({ ...table[3], index: i, group: `g${i}` }));
  assert.equal(curvedCandidates(many, true).length, CANDIDATE_CURVES);

  // An exhaustive search, from a summary written before spend and stops were recorded.
  const exhaustive = SearchSpec.parse({ ...spec, scaling: { grid: {} }, execution: {} });
  const old = JSON.parse(JSON.stringify({ ...result, spend: undefined, state: initialState(2, 0) })) as SearchResult;
  const plain = reportData(old, exhaustive, [table[2]], []);
  assert.deepEqual(plain.strategy, { kind: 'exhaustive', rungEpochs: [9], eta: 3 });
  assert.equal(plain.spend, undefined);
  assert.equal(plain.stoppedBy, undefined);
  assert.equal(plain.budget, undefined);
});

test("chance is a random guess over the baseline's classes: 1/classes of accuracy, 1 − 1/classes of error, none for loss", () => {
  assert.equal(chanceScore('accuracy', 10), 0.1);
  assert.equal(chanceScore('error', 4), 0.75);
  assert.equal(chanceScore('loss', 10), undefined);
  const spec = (metric: string) =>
    SearchSpec.parse({
      name: 'five',
      baseline: { preset: 'micro-28', classes: 5 },
      task: { dataset: { format: 'fashion-mnist', path: '/usr/share/datasets/fashion-mnist' }, metric },
    });
  const result: SearchResult = {
    searchId: 'five',
    name: 'five',
    specHash: 'x',
    status: 'completed',
    best: null,
    spend: { seconds: 0, work: 0 },
    state: initialState(2, 0),
  };
  assert.equal(reportData(result, spec('accuracy'), [], []).chance, 0.2);
  assert.equal(reportData(result, spec('error'), [], []).chance, 0.8);
  assert.equal('chance' in reportData(result, spec('loss'), [], []), false);
});

test('a heatmap cell holds the best score over the third coefficient, else why it has none', () => {
  const row = (alpha: number, beta: number, gamma: number, rest: Partial<CandidateRow>): CandidateRow => ({
    index: 0,
    alpha,
    beta,
    gamma,
    group: `g${alpha}${beta}${gamma}`,
    macs: 1e6,
    params: 1000,
    state: 'succeeded',
    ...rest,
  });
  const table = [
    row(1, 1, 1.2, { score: 0.5 }),
    row(1, 1, 1.3, { score: 0.7 }),
    row(1, 1, 1.4, { state: 'failed', error: 'crash' }),
    row(1, 1.1, 1.2, { state: 'excluded', excluded: 'over the limits' }),
    row(1, 1.1, 1.3, { state: 'pending' }),
    row(1.1, 1, 1.1, { state: 'excluded', excluded: 'over the limits' }),
    row(1.1, 1, 1.2, { state: 'excluded', excluded: 'over the limits' }),
    row(1.1, 1.1, 1.1, { state: 'cancelled' }),
  ];
  // No candidate at α 1.2 (or β 1.2): no cell.
  assert.deepEqual(heatmapCells(table, 'alpha', 'beta', true), [
    { x: 1, y: 1, state: 'scored', score: 0.7 },
    { x: 1, y: 1.1, state: 'unscored' },
    { x: 1.1, y: 1, state: 'excluded' },
    { x: 1.1, y: 1.1, state: 'unscored' },
  ]);
  assert.deepEqual(heatmapCells(table, 'alpha', 'beta', false)[0], { x: 1, y: 1, state: 'scored', score: 0.5 });
  // Over another pair the same points fall into other cells.
  assert.deepEqual(
    heatmapCells(table, 'beta', 'gamma', true).map((c) => [c.x, c.y, c.state]),
    [
      [1, 1.2, 'scored'],
      [1, 1.3, 'scored'],
      [1, 1.4, 'unscored'],
      [1.1, 1.2, 'excluded'],
      [1.1, 1.3, 'unscored'],
      [1, 1.1, 'excluded'],
      [1.1, 1.1, 'unscored'],
    ],
  );
});

test('epoch ticks are whole epochs, ten or so however long the training', () => {
  assert.deepEqual(epochTicks(3), [0, 1, 2, 3]);
  assert.deepEqual(epochTicks(9), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(epochTicks(12), [0, 2, 4, 6, 8, 10, 12]);
  for (const last of [1, 7, 10, 11, 37, 90, 250, 999, 12_345]) {
    const ticks = epochTicks(last);
    assert.ok(ticks.every(Number.isInteger), `${last}: ${ticks.join(' ')}`);
    assert.ok(ticks.length >= 2 && ticks.length <= 11, `${last}: ${ticks.length} ticks`);
    assert.ok((ticks.at(-1) ?? Infinity) <= last, `${last}: ends at ${ticks.at(-1)}`);
  }
});
