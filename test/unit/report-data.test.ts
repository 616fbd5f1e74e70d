import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CandidateRow } from '../../activities/candidate-table.js';
import { REPORT_ROWS, reportData } from '../../report/data.js';
import { SearchSpec } from '../../spec/search.js';
import { initialState, type BestCandidate, type SearchResult } from '../../workflows/state.js';

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
