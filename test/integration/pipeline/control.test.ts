import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extendFinished, searchOptions, searchOptionsOf } from '../../../client/search.js';
import {
  BestScoreAttribute,
  SpendAttribute,
  extendUpdate,
  pauseSignal,
  resumeSignal,
  setParallelismUpdate,
} from '../../../workflows/messages.js';
import type { SearchResult } from '../../../search/state.js';
import { searchProgress } from '../../../client/follow.js';
import {
  candidateTable,
  trainingsOf,
  createTestWorker,
  replayAndRecord,
  retrainedAfterFinish,
  runs,
  start,
  withTestServer,
  tempStateDir,
  testSpec,
} from './harness.js';

const env = withTestServer();

test('pause, resume, parallelism and extension of a running search; extension of a finished one', async () => {
  const stateDir = await tempStateDir('control');
  const spec = testSpec('control', { execution: { parallelism: 1, local: { noop: true } } });
  const worker = await createTestWorker(env().nativeConnection, { stateDir });
  const { handle, workflowId } = await start(env().client, spec);
  await handle.signal(pauseSignal);

  const result: SearchResult = await worker.runUntil(async () => {
    // Paused: whatever was launched before the signal finishes, nothing new starts.
    await new Promise((r) => setTimeout(r, 3000));
    const paused = await searchProgress(env().client, handle);
    assert.equal(paused.paused, true);
    assert.ok(paused.trainings.running + paused.trainings.succeeded <= 1, JSON.stringify(paused.trainings));
    assert.equal(await handle.executeUpdate(setParallelismUpdate, { args: [3] }), 3);
    await assert.rejects(handle.executeUpdate(setParallelismUpdate, { args: [0] }), (err: Error) =>
      /parallelism must be an integer/.test(String((err.cause as Error | undefined)?.message)),
    );
    const added = await handle.executeUpdate(extendUpdate, {
      args: [{ gamma: { min: 1, max: 1.6, step: 0.1 }, tolerance: 0.15, phis: [3] }],
    });
    assert.ok(added > 0, 'the wider γ range adds new trainings');
    await handle.signal(resumeSignal);
    return handle.result();
  });
  assert.equal(result.status, 'completed');
  assert.ok(result.state.trainings > 7);
  assert.equal(trainingsOf(await candidateTable(stateDir, workflowId)).length, result.state.trainings);
  assert.deepEqual(
    result.state.family.map((m) => m.phi),
    [1, 2, 3],
  );

  // A finished search continues in a new run of the same id, from the state its worker recorded.
  const options = await searchOptionsOf(handle);
  assert.deepEqual({ ...options, parallelism: 1 }, searchOptions(spec));
  const next = await extendFinished(env().client, workflowId, { options }, { phis: [4] });
  const extended: SearchResult = await (
    await createTestWorker(env().nativeConnection, { stateDir })
  ).runUntil(next.result());
  assert.equal(extended.state.runs, result.state.runs + 1);
  assert.deepEqual(
    extended.state.family.map((m) => m.phi),
    [1, 2, 3, 4],
  );
  assert.deepEqual(retrainedAfterFinish(await runs(stateDir, workflowId)), []);
  await replayAndRecord(env().client, workflowId, 'extended-finished');
  // The new run's attributes carry the search's best and spend from its first moment, not only on a new best.
  const attributes = (await next.describe()).typedSearchAttributes;
  assert.equal(attributes.get(BestScoreAttribute), extended.best?.score);
  assert.equal(attributes.get(SpendAttribute), extended.spend.seconds / 3600);
});
