import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { WorkflowFailedError, CancelledFailure, type Client } from '@temporalio/client';
import { processAlive } from '../../../executors/process.js';
import { Registry } from '../../../registry/registry.js';
import { BestScoreAttribute, StageAttribute } from '../../../workflows/messages.js';
import { searchProgress } from '../../../client/follow.js';
import type { SearchResult } from '../../../search/state.js';
import {
  candidateTable,
  createTestWorker,
  trainingsOf,
  readJson,
  retrainedAfterFinish,
  runs,
  searchDirOf,
  start,
  withTestServer,
  tempStateDir,
  testSpec,
  replayAndRecord,
} from './harness.js';

const crashTrainer = fileURLToPath(new URL('../../fixtures/trainers/crash-at-resolution.js', import.meta.url));

/** Workflow runs of one workflow id (1 + its continue-as-new count). */
async function runsOf(client: Client, workflowId: string): Promise<number> {
  let n = 0;
  for await (const _ of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n++;
  return n;
}

describe('search workflow on a real Temporal dev server', () => {
  const env = withTestServer();

  test('a search plans, trains each dedup group once, selects, scales, retrains and registers', async () => {
    const stateDir = await tempStateDir('search');
    const spec = testSpec('basic');
    const worker = await createTestWorker(env().nativeConnection, { stateDir });
    const { handle, workflowId, started } = await start(env().client, spec);
    assert.equal(started, true);
    const result: SearchResult = await worker.runUntil(handle.result());

    assert.equal(result.status, 'completed');
    const candidates = await candidateTable(stateDir, workflowId);
    assert.equal(candidates.length, 10, 'the grid of the test spec has 10 points');
    assert.equal(new Set(candidates.map((c) => c.group)).size, 7, 'and 7 distinct rounded architectures');
    assert.deepEqual(
      [result.state.points, result.state.trainings, result.state.chunks.length],
      [10, 7, 1],
      'the workflow holds counts and one chunk summary, not the rows',
    );
    for (const c of candidates) assert.equal(c.state, 'succeeded');

    const records = await runs(stateDir, workflowId);
    const launches = records.filter((r) => r.event === 'launch');
    assert.equal(launches.filter((r) => r.candidateId.startsWith('g')).length, 7, 'one training per dedup group');
    assert.deepEqual(retrainedAfterFinish(records), []);

    // Best: highest score, ties to fewer multiply-adds.
    const scored = candidates.map((c) => ({ c, score: c.score ?? -1 }));
    const top = Math.max(...scored.map((s) => s.score));
    const cheapest = Math.min(...scored.filter((s) => s.score === top).map((s) => s.c.macs));
    assert.equal(result.best?.score, top);
    assert.equal(result.best?.macs, cheapest);

    assert.deepEqual(
      result.state.family.map((m) => m.phi),
      [1, 2],
    );
    assert.equal(result.state.finals.length, 1);
    assert.equal(result.state.finals[0].member, 'phi2', 'the largest member is the finalist');
    assert.equal(result.state.registered.length, 1);
    const entry = await new Registry(join(stateDir, 'registry')).get(result.state.registered[0].name);
    assert.equal(entry.lineage.searchId, workflowId);
    assert.equal(entry.lineage.alpha, result.best?.alpha);
    assert.equal(entry.lineage.phi, 2);
    assert.ok(existsSync(join(entry.uri, 'architecture.json')));

    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(StageAttribute), 'done');
    assert.equal(description.typedSearchAttributes.get(BestScoreAttribute), result.best?.score);
    assert.equal((description.memo as { specHash: string }).specHash, result.specHash);

    // The same name and spec re-attach to the finished search instead of starting another.
    const again = await start(env().client, spec);
    assert.equal(again.started, false);
    assert.equal(again.workflowId, workflowId);
    assert.deepEqual((await again.handle.result()).best, result.best);

    // Determinism: the fresh histories (the search's and its chunk's) replay against the current code.
    await replayAndRecord(env().client, workflowId, 'basic-search');
  });

  for (const { what, chunkSize, continues } of [
    { what: 'a chunk', chunkSize: 500, continues: (id: string) => `${id}/chunk-0` },
    { what: 'the search', chunkSize: 1, continues: (id: string) => id },
  ]) {
    test(`continue-as-new of ${what} with a small threshold keeps every result`, async () => {
      const stateDir = await tempStateDir('can');
      const spec = testSpec(`can-${chunkSize}`, {
        scaling: {
          grid: {
            alpha: { min: 1, max: 1.3, step: 0.05 },
            beta: { min: 1, max: 1.2, step: 0.05 },
            gamma: { min: 1, max: 1.2, step: 0.05 },
            tolerance: 0.05,
          },
          targets: { phis: [1] },
        },
        execution: { parallelism: 4, continueAsNewAfter: 50, chunkSize, local: { noop: true } },
      });
      const worker = await createTestWorker(env().nativeConnection, { stateDir });
      const { handle, workflowId } = await start(env().client, spec);
      const result: SearchResult = await worker.runUntil(handle.result());
      const continued = await runsOf(env().client, continues(workflowId));
      assert.ok(continued >= 2, `expected ${what} to continue as new, got ${continued} run(s)`);
      const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
      assert.ok(trainings.length >= 10, `a grid large enough to cross the threshold (${trainings.length} trainings)`);
      assert.equal(result.state.trainings, trainings.length);
      const records = await runs(stateDir, workflowId);
      const finished = new Set(records.filter((r) => r.event === 'finish').map((r) => r.candidateId));
      for (const t of trainings) {
        assert.equal(t.state, 'succeeded');
        assert.ok(finished.has(t.group), `${t.group} trained`);
        const onDisk = await readJson<{ score: number }>(
          join(searchDirOf(stateDir, workflowId), 'candidates', t.group, 'result.json'),
        );
        assert.equal(t.score, onDisk.score, `${t.group}: the recorded score is the trained one`);
      }
      const best = trainings.reduce((a, b) => ((b.score ?? 0) > (a.score ?? 0) ? b : a));
      assert.equal(result.best?.score, best.score);
      assert.deepEqual(retrainedAfterFinish(records), []);
    });
  }

  test('a crashing candidate is retried, then recorded failed; the search completes within its failure budget', async () => {
    const stateDir = await tempStateDir('crash');
    const spec = testSpec('crash', {
      execution: {
        parallelism: 3,
        retries: 1,
        failureBudget: 2,
        local: { noop: true, trainer: [process.execPath, crashTrainer] },
      },
    });
    process.env.CRASH_RESOLUTION = '39'; // γ = 1.4: 28 px → 39 px, two dedup groups
    const worker = await createTestWorker(env().nativeConnection, { stateDir });
    const { handle, workflowId } = await start(env().client, spec);
    const result: SearchResult = await worker.runUntil(handle.result());
    assert.equal(result.status, 'completed');
    const failed = trainingsOf(await candidateTable(stateDir, workflowId)).filter((t) => t.state === 'failed');
    assert.equal(failed.length, 2);
    for (const { group: id, error } of failed) {
      assert.match(error ?? '', /simulated crash at resolution 39/);
      const launches = (await runs(stateDir, workflowId)).filter((r) => r.event === 'launch' && r.candidateId === id);
      assert.equal(launches.length, 2, `${id}: first try + 1 retry`);
    }
    assert.ok(result.best && result.best.gamma < 1.4);
    await replayAndRecord(env().client, workflowId, 'crash-retry-failed');
    delete process.env.CRASH_RESOLUTION;
  });

  test('more failures than the budget fail the search, with what finished recorded', async () => {
    const stateDir = await tempStateDir('budget');
    const spec = testSpec('budget', {
      execution: {
        parallelism: 3,
        retries: 0,
        failureBudget: 1,
        local: { noop: true, trainer: [process.execPath, crashTrainer] },
      },
    });
    process.env.CRASH_RESOLUTION = '39';
    const worker = await createTestWorker(env().nativeConnection, { stateDir });
    const { handle, workflowId } = await start(env().client, spec);
    await assert.rejects(worker.runUntil(handle.result()), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(String(err.cause?.message), /failure budget of 1/);
      return true;
    });
    const summary = await readJson<SearchResult>(join(searchDirOf(stateDir, workflowId), 'summary.json'));
    assert.equal(summary.status, 'failed');
    delete process.env.CRASH_RESOLUTION;
  });

  test('cancel stops the training processes (no orphans) and keeps what finished', async () => {
    const stateDir = await tempStateDir('cancel');
    const spec = testSpec('cancel', {
      task: { dataset: { format: 'fashion-mnist' }, trainLimit: 20000, valLimit: 256 },
      training: { epochs: 3, batchSize: 32 },
      execution: { parallelism: 2, heartbeatTimeout: '30s', local: { graceSeconds: 5 } },
    });
    const worker = await createTestWorker(env().nativeConnection, { stateDir });
    const { handle, workflowId } = await start(env().client, spec);
    const outcome = worker.runUntil(
      (async () => {
        for (;;) {
          const launched = (await runs(stateDir, workflowId)).filter((r) => r.event === 'launch');
          if (launched.length >= 2) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        const progress = await searchProgress(env().client, handle);
        assert.equal(progress.trainings.running, 2, 'the live counts of the running chunk');
        await handle.cancel();
        return handle.result().then(
          () => assert.fail('a cancelled search must not complete'),
          (err: unknown) => err,
        );
      })(),
    );
    const err = await outcome;
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure);
    const pids = (await runs(stateDir, workflowId)).flatMap((r) => (r.pid ? [r.pid] : []));
    assert.ok(pids.length >= 2);
    for (const pid of pids) assert.equal(processAlive(pid), false, `trainer ${pid} still running`);
    const summary = await readJson<SearchResult>(join(searchDirOf(stateDir, workflowId), 'summary.json'));
    assert.equal(summary.status, 'cancelled');
    const table = await candidateTable(stateDir, workflowId);
    assert.ok(
      table.some((c) => c.state === 'cancelled'),
      'the chunk recorded its interrupted trainings',
    );
    await replayAndRecord(env().client, workflowId, 'cancelled');
  });
});
