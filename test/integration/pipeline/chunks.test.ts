import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { searchProgress } from '../../../client/follow.js';
import { extendUpdate, pauseSignal, resumeSignal } from '../../../workflows/messages.js';
import { type SearchResult } from '../../../search/state.js';
import {
  candidateTable,
  createTestWorker,
  InProcessNoop,
  replayAndRecord,
  retrainedAfterFinish,
  runs,
  start,
  withTestServer,
  tempStateDir,
  testSpec,
  trainingsOf,
  until,
} from './harness.js';
import { ranksBefore } from '../../../search/ranking.js';
import { chunkWorkflowId } from '../../../search/ids.js';

/** A search split into many chunk workflows behaves as one: window, pause, extension, failure budget, payloads. */

const crashTrainer = fileURLToPath(new URL('../../fixtures/trainers/crash-at-resolution.js', import.meta.url));
const { HistoryEvent } = proto.temporal.api.history.v1;

/** Every run of the search and its chunks: the largest event and the search's own event count. */
async function historySizes(client: Client, workflowId: string, chunks: number) {
  let largest = 0;
  let searchEvents = 0;
  for (const id of [workflowId, ...Array.from({ length: chunks }, (_, k) => chunkWorkflowId(workflowId, k))]) {
    for await (const run of client.workflow.list({ query: `WorkflowId = '${id}'` })) {
      const events = (await client.workflow.getHandle(id, run.runId).fetchHistory()).events ?? [];
      for (const e of events) largest = Math.max(largest, HistoryEvent.encode(e).finish().length);
      if (id === workflowId) searchEvents += events.length;
    }
  }
  return { largest, searchEvents };
}

describe('a search in chunks', () => {
  const env = withTestServer();

  test('chunks of 2: the same answer as one chunk, pause and extension across chunks, nothing trained twice', async () => {
    const stateDir = await tempStateDir('chunks');
    const spec = testSpec('chunks', { execution: { parallelism: 2, chunkSize: 2, local: { noop: true } } });
    const worker = await createTestWorker(env().nativeConnection, { stateDir });
    const { handle, workflowId } = await start(env().client, spec);
    const result: SearchResult = await worker.runUntil(async () => {
      await until('the second chunk', async () => (await searchProgress(env().client, handle)).chunks.done >= 1);
      await handle.signal(pauseSignal);
      const paused = await searchProgress(env().client, handle);
      await until('the running trainings to end', async () => {
        return (await searchProgress(env().client, handle)).trainings.running === 0;
      });
      const held = (await searchProgress(env().client, handle)).trainings.succeeded;
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal((await searchProgress(env().client, handle)).trainings.succeeded, held, 'paused across chunks');
      assert.ok(paused.paused);
      const added = await handle.executeUpdate(extendUpdate, {
        args: [{ gamma: { min: 1, max: 1.6, step: 0.1 }, tolerance: 0.15 }],
      });
      assert.ok(added > 0, 'the wider γ range adds trainings, in new chunks');
      await handle.signal(resumeSignal);
      return handle.result();
    });
    assert.equal(result.status, 'completed');
    const table = await candidateTable(stateDir, workflowId);
    const trainings = trainingsOf(table);
    assert.equal(result.state.trainings, trainings.length);
    assert.equal(result.state.chunks.length, Math.ceil(7 / 2) + Math.ceil((trainings.length - 7) / 2));
    assert.ok(trainings.every((t) => t.state === 'succeeded'));
    const best = trainings.reduce((a, b) =>
      ranksBefore({ ...b, score: b.score ?? 0 }, { ...a, score: a.score ?? 0 }, true) ? b : a,
    );
    assert.equal(result.best?.index, best.index, 'the best over every chunk');
    const launches = (await runs(stateDir, workflowId)).filter(
      (r) => r.event === 'launch' && r.candidateId.startsWith('g'),
    );
    assert.equal(launches.length, trainings.length, 'one launch per training');
    assert.deepEqual(retrainedAfterFinish(await runs(stateDir, workflowId)), []);
    await replayAndRecord(env().client, workflowId, 'chunks-pause-extension');
  });

  test('the failure budget holds over the whole search, not per chunk', async () => {
    process.env.CRASH_RESOLUTION = '39'; // two trainings crash; with chunks of 1 they are in different chunks
    try {
      for (const [failureBudget, completes] of [
        [2, true],
        [1, false],
      ] as const) {
        const stateDir = await tempStateDir('chunk-budget');
        const spec = testSpec(`chunk-budget-${failureBudget}`, {
          execution: {
            parallelism: 2,
            chunkSize: 1,
            retries: 0,
            failureBudget,
            local: { noop: true, trainer: [process.execPath, crashTrainer] },
          },
          final: { finalists: 0 },
        });
        const worker = await createTestWorker(env().nativeConnection, { stateDir });
        const { handle } = await start(env().client, spec);
        const outcome = await worker.runUntil(handle.result().catch((err: unknown) => err));
        if (completes) {
          assert.equal((outcome as SearchResult).status, 'completed');
          assert.equal((outcome as SearchResult).state.chunks.filter((c) => c.counts?.failed).length, 2);
        } else {
          assert.ok(outcome instanceof WorkflowFailedError);
          assert.match(String(outcome.cause?.message), /2 candidates failed, more than the failure budget of 1/);
        }
      }
    } finally {
      delete process.env.CRASH_RESOLUTION;
    }
  });

  test('2,000 trainings in 8 chunks: small payloads, a short search history, the best found', async () => {
    const stateDir = await tempStateDir('large');
    const spec = testSpec('large', {
      baseline: { preset: 'efficientnet-b0', inputChannels: 1, classes: 10 },
      scaling: {
        grid: {
          alpha: { min: 1, max: 2, step: 0.01 },
          beta: { min: 1, max: 2, step: 0.01 },
          gamma: { min: 1, max: 2, step: 0.01 },
          tolerance: 0.02,
          random: { count: 2000, seed: 3 },
        },
        targets: { phis: [1] },
      },
      execution: { parallelism: 16, chunkSize: 250 },
      final: { finalists: 0 },
    });
    const worker = await createTestWorker(env().nativeConnection, {
      stateDir,
      dedup: false,
      executorFor: () => new InProcessNoop(),
    });
    const { handle, workflowId } = await start(env().client, spec);
    const result: SearchResult = await worker.runUntil(handle.result());
    assert.equal(result.status, 'completed');
    assert.equal(result.state.trainings, 2000);
    assert.equal(result.state.chunks.length, 8);
    const { largest, searchEvents } = await historySizes(env().client, workflowId, 8);
    assert.ok(largest < 64 * 1024, `largest history event ${largest} bytes`);
    assert.ok(searchEvents < 200, `the search's own history stays short: ${searchEvents} events`);
    const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
    assert.equal(trainings.filter((t) => t.state === 'succeeded').length, 2000);
    const best = trainings.reduce((a, b) =>
      ranksBefore({ ...b, score: b.score ?? 0 }, { ...a, score: a.score ?? 0 }, true) ? b : a,
    );
    assert.equal(result.best?.index, best.index);
  });
});
