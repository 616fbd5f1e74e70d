import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressPrinter } from '../../client/output.js';
import { emptyCounts, initialState, progressOf } from '../../search/state.js';
import type { TrainingHeartbeat } from '../../search/types.js';

/** What the printer writes to stderr for a sequence of polls. */
function printed(polls: TrainingHeartbeat[][]): string[] {
  const lines: string[] = [];
  const original = console.error;
  console.error = (line: string) => lines.push(line);
  try {
    const print = progressPrinter();
    const progress = { ...progressOf(initialState(2, 0), { higherIsBetter: true, budget: null }, null, 0) };
    for (const running of polls) print({ ...progress, trainings: { ...emptyCounts(), running: 2 } }, running);
  } finally {
    console.error = original;
  }
  return lines.filter((l) => l.startsWith('effscale:   '));
}

test('trainers still starting do not hold back the first progress line of a running training', () => {
  const starting: TrainingHeartbeat = { candidateId: 'g1', epochs: 1, epoch: 0 };
  const batching: TrainingHeartbeat = { candidateId: 'g1', epochs: 1, epoch: 1, batch: 3, batches: 16, loss: 2.1 };
  const lines = printed([[starting], [starting], [batching], [batching]]);
  assert.deepEqual(lines, ['effscale:   g1 epoch 1/1 batch 3/16 loss 2.100']);
});
