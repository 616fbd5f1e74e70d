import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError } from '@temporalio/client';
import { TrainResult } from '../../../schemas/candidate.js';
import type { SearchSpecInput } from '../../../schemas/search.js';
import { dryRun, dryRunSummary } from '../../../client/dry-run.js';
import { extendFinished, searchOptions } from '../../../client/search.js';
import { searchProgress } from '../../../client/follow.js';
import { humanSummary, resultDocument } from '../../../client/output.js';
import { chunkCandidatesQuery, SpendAttribute } from '../../../workflows/messages.js';
import type { SearchResult } from '../../../search/state.js';
import {
  candidateTable,
  createTestWorker,
  InProcessNoop,
  activitySummaries,
  readJson,
  replayAndRecord,
  retrainedAfterFinish,
  runs,
  searchDirOf,
  start,
  withTestServer,
  tempStateDir,
  testSpec,
  trainingsOf,
} from './harness.js';
import { chunkWorkflowId } from '../../../search/ids.js';
import { Architecture } from '../../../scaling/architecture.js';
import { architectureCost } from '../../../scaling/cost.js';
import { searchPaths } from '../../../store/search-dir.js';

/** Successive halving over the grid, and the compute budget: rungs, promotions, refusal, a budget reached. */

const slowTrainer = fileURLToPath(new URL('../../fixtures/trainers/slow-noop.js', import.meta.url));
const halving = (h: object = {}) => ({ strategy: 'halving' as const, halving: { eta: 3, minEpochs: 1, ...h } });

function halvingSpec(name: string, over: Partial<SearchSpecInput> = {}) {
  const base = testSpec(name);
  return testSpec(name, {
    training: { epochs: 9, batchSize: 64 },
    scaling: { ...base.scaling, grid: { ...base.scaling.grid, ...halving() } },
    ...over,
  });
}

async function resultJson(stateDir: string, workflowId: string, group: string): Promise<TrainResult> {
  return TrainResult.parse(await readJson(join(searchDirOf(stateDir, workflowId), 'candidates', group, 'result.json')));
}

describe('successive halving and the compute budget', () => {
  const env = withTestServer();

  test('rungs of 1/3/9 epochs: asynchronous promotion from checkpoints, nothing retrained, the winner fully trained', async () => {
    const stateDir = await tempStateDir('halving');
    const spec = halvingSpec('halving', { execution: { parallelism: 2, local: { noop: true } } });
    const noop = { stateDir, executorFor: () => new InProcessNoop() };
    const worker = await createTestWorker(env().nativeConnection, noop);
    const { handle, workflowId } = await start(env().client, spec);
    // Queries of closed workflows are answered by a worker: ask them before this one stops.
    const [result, p, queried] = await worker.runUntil(async () => {
      const done: SearchResult = await handle.result();
      const chunk = env().client.workflow.getHandle(chunkWorkflowId(workflowId, 0));
      return [done, await searchProgress(env().client, handle), await chunk.query(chunkCandidatesQuery)] as const;
    });
    assert.equal(result.status, 'completed');

    const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
    const reached = (k: number) => trainings.filter((t) => (t.scores?.length ?? 0) > k);
    assert.equal(reached(0).length, 7, 'every training ran rung 0');
    assert.ok(reached(1).length >= 2 && reached(1).length < 7, `${reached(1).length} reached rung 1`);
    assert.ok(reached(2).length >= 1 && reached(2).length < reached(1).length, `${reached(2).length} reached rung 2`);
    // The no-op score rises with multiply-adds, so halving must keep the largest through every rung.
    const largest = trainings.reduce((a, b) => (b.macs > a.macs ? b : a));
    assert.equal(result.best?.group, largest.group);
    assert.equal(result.best?.rung, 2);
    const winner = await resultJson(stateDir, workflowId, largest.group);
    assert.equal(winner.epochs.length, 9, 'the winner trained through the last rung');
    assert.equal(winner.resumedFromEpoch, 3, 'its last rung continued from the rung-1 checkpoint');
    // Each candidate's architecture was derived once and recorded: it is the one the plan costed.
    const paths = searchPaths(searchDirOf(stateDir, workflowId));
    for (const t of trainings) {
      const recorded = Architecture.parse(await readJson(paths.candidateArchitecture(t.group)));
      assert.equal(architectureCost(recorded).macs, t.macs, `${t.group}: the recorded architecture is the planned one`);
    }

    const records = await runs(stateDir, workflowId);
    assert.deepEqual(retrainedAfterFinish(records), [], 'no rung trained twice');
    // Launch order, not finish order: a promoted training trains three epochs and may well finish last.
    const launches = records.filter((r) => r.event === 'launch' && r.candidateId.startsWith('g'));
    const firstPromotion = launches.findIndex((r) => r.epochs === 3);
    const lastRung0 = launches.map((r) => r.epochs).lastIndexOf(1);
    assert.ok(firstPromotion >= 0 && firstPromotion < lastRung0, 'a promotion started before rung 0 was done');
    const epochs = trainings.reduce((n, t) => n + [1, 3, 9][(t.scores?.length ?? 1) - 1], 0);
    assert.ok(epochs < 0.5 * 7 * 9, `${epochs} epochs trained, against ${7 * 9} exhaustively`);

    assert.deepEqual(
      p.rungs.map((r) => r.finished),
      [0, 1, 2].map((k) => reached(k).length),
    );
    assert.ok(p.spend.work > 0);
    // The chunk's candidates query (the UI's Queries tab) has each training's α, β, γ, MACs, state, rung and scores.
    assert.deepEqual(
      queried.map((q) => [q.group, q.alpha, q.beta, q.gamma, q.macs, q.state, q.rung, q.scores]).sort(),
      trainings.map((t) => [t.group, t.alpha, t.beta, t.gamma, t.macs, t.state, t.rung, t.scores]).sort(),
    );
    // The Temporal UI's timeline names what each training bar trained.
    const summaries = await activitySummaries(env().client, chunkWorkflowId(workflowId, 0));
    const l = largest;
    assert.ok(
      summaries.includes(`search α=${l.alpha} β=${l.beta} γ=${l.gamma} rung 3/3, to epoch 9`),
      summaries.join('\n'),
    );
    assert.equal(summaries.filter((x) => x.includes('rung 1/3, to epoch 1')).length, 7);
    await replayAndRecord(env().client, workflowId, 'halving');

    // An extension's new points enter at rung 0, in chunks of their own, and run their own rungs.
    const extension = { gamma: { min: 1, max: 1.6, step: 0.1 }, tolerance: 0.15 };
    const next = await extendFinished(env().client, workflowId, { options: searchOptions(spec) }, extension);
    const extended: SearchResult = await (await createTestWorker(env().nativeConnection, noop)).runUntil(next.result());
    const all = trainingsOf(await candidateTable(stateDir, workflowId));
    const added = all.filter((t) => !trainings.some((u) => u.group === t.group));
    assert.ok(added.length > 0, 'the wider γ range adds trainings');
    assert.ok(
      added.every((t) => (t.scores?.length ?? 0) >= 1),
      'every new training ran rung 0',
    );
    assert.equal(extended.best?.rung, 2);
    assert.deepEqual(retrainedAfterFinish(await runs(stateDir, workflowId)), [], 'nothing earlier retrained');
  });

  test('real training on a small grid: promoted candidates continue their real checkpoints', async () => {
    const stateDir = await tempStateDir('halving-real');
    const base = testSpec('halving-real');
    const spec = testSpec('halving-real', {
      training: { epochs: 2, batchSize: 64 },
      scaling: { ...base.scaling, grid: { ...base.scaling.grid, ...halving({ eta: 2 }) } },
      execution: { parallelism: 2, local: {} },
      final: { finalists: 0 },
    });
    const worker = await createTestWorker(env().nativeConnection, { stateDir });
    const { handle, workflowId } = await start(env().client, spec);
    const result: SearchResult = await worker.runUntil(handle.result());
    assert.equal(result.status, 'completed');
    const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
    const promoted = trainings.filter((t) => t.scores?.length === 2);
    assert.ok(promoted.length >= 3 && promoted.length < trainings.length, `${promoted.length} promoted`);
    assert.equal(result.best?.rung, 1);
    const best = promoted.reduce((a, b) => ((b.score ?? 0) > (a.score ?? 0) ? b : a));
    assert.equal(result.best?.group, best.group, 'the best of the last rung');
    for (const t of promoted) {
      const r = await resultJson(stateDir, workflowId, t.group);
      assert.equal(r.backend, 'tensorflow');
      assert.equal(r.epochs.length, 2);
      assert.equal(r.resumedFromEpoch, 1, `${t.group} continued from its rung-0 checkpoint`);
      assert.equal(r.score, t.score);
    }
    assert.deepEqual(retrainedAfterFinish(await runs(stateDir, workflowId)), []);

    // The next search's estimate uses the speed this one measured, in seconds, before anything runs.
    const next = await dryRun(testSpec('after-halving-real', { execution: { local: {} } }), stateDir);
    assert.match(next.estimate.throughput?.source ?? '', new RegExp(`measured by ${workflowId}`));
    assert.ok((next.estimate.deviceSeconds ?? 0) > 0);
    assert.match(dryRunSummary(next), /estimate: [\d.]+ device-hours, [\d.]+ hours of wall time at parallelism/);
  });

  test('a plan estimated over the budget is refused before any training; --over-budget starts it', async () => {
    const stateDir = await tempStateDir('over-budget');
    const execution = {
      parallelism: 2,
      local: { noop: true },
      throughput: 1e9,
      budget: { gpuHours: 0.001 },
    };
    const worker = await createTestWorker(env().nativeConnection, { stateDir, executorFor: () => new InProcessNoop() });
    const spec = testSpec('over-budget', { execution, final: { finalists: 0 } });
    const { handle, workflowId } = await start(env().client, spec);
    await worker.runUntil(async () => {
      const err = await handle.result().then(
        () => assert.fail('the search should have been refused'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(String(err.cause?.message), /execution\.budget: the plan estimates .* device-hours, over/);
    });
    assert.ok(!existsSync(join(searchDirOf(stateDir, workflowId), 'runs.jsonl')), 'nothing was launched');

    const proceed = testSpec('over-budget-proceed', {
      execution: { ...execution, budget: { gpuHours: 0.001, proceed: true } },
      final: { finalists: 0 },
    });
    const started = await start(env().client, proceed);
    const again = await createTestWorker(env().nativeConnection, { stateDir, executorFor: () => new InProcessNoop() });
    const result: SearchResult = await again.runUntil(started.handle.result());
    assert.equal(result.status, 'completed');
  });

  for (const budget of [{ gpuHours: 10 / 3600 }, { wallTime: '6s' }]) {
    const kind = Object.keys(budget)[0];
    test(`a ${kind} budget reached mid-search stops the running trainings and selects among the trained`, async () => {
      process.env.SLOW_SECONDS = '1';
      const stateDir = await tempStateDir('budget');
      const spec = testSpec(`budget-${kind.toLowerCase()}`, {
        training: { epochs: 3, batchSize: 64 },
        execution: {
          parallelism: 2,
          local: { noop: true, trainer: [process.execPath, slowTrainer] },
          budget,
        },
        final: { finalists: 1 },
      });
      const worker = await createTestWorker(env().nativeConnection, { stateDir });
      const { handle, workflowId } = await start(env().client, spec);
      const result: SearchResult = await worker.runUntil(handle.result());
      assert.equal(result.status, 'completed');
      assert.equal(result.state.stoppedBy, 'budget');
      const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
      const states = trainings.map((t) => t.state);
      assert.ok(states.includes('succeeded') && states.includes('pending'), states.join(' '));
      assert.ok(states.includes('cancelled'), 'the trainings running at the budget were stopped');
      const best = trainings
        .filter((t) => t.state === 'succeeded')
        .reduce((a, b) => ((b.score ?? 0) > (a.score ?? 0) ? b : a));
      assert.equal(result.best?.group, best.group, 'the best of the trained');
      if (kind === 'gpuHours') {
        // At most a moment over (the workflow checks when a slot frees or the budget is due).
        const spent = result.spend.seconds;
        assert.ok(spent >= 10 && spent < 14, `${spent} device-seconds`);
        await replayAndRecord(env().client, workflowId, 'budget-reached');
      }
      const attributes = (await handle.describe()).typedSearchAttributes;
      assert.equal(attributes.get(SpendAttribute), result.spend.seconds / 3600);
      assert.equal(result.state.registered.length, 1, 'the search finished: scaled, retrained, registered');
      const summary = humanSummary(resultDocument(result, { workflowId, address: 'local' }, undefined));
      assert.match(summary, /the compute budget ended the search early/);
    });
  }
});
