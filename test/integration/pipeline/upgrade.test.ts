import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundle } from '@temporalio/worker';
import { ensureDevServer } from '../../../client/dev-server.js';
import { adoptSearch } from '../../../client/adopt.js';
import { upgradeSearch } from '../../../client/upgrade.js';
import { deploymentVersions, searchVersion, type DeploymentVersion } from '../../../client/versions.js';
import { InProcessNoop } from '../../../executors/in-process.js';
import type { Executor, TrainingHooks, TrainingJob } from '../../../executors/executor.js';
import type { SearchResult } from '../../../search/state.js';
import { pauseSignal, resumeSignal } from '../../../workflows/messages.js';
import { createSearchWorker, quietWorkerLogs, workflowsPath, type SearchWorker } from '../../../worker/worker.js';
import { setCurrentVersion } from '../../../worker/versions.js';
import type { SearchSpec } from '../../../schemas/search.js';
import {
  replayAndRecordRuns,
  retrainedAfterFinish,
  runs,
  start,
  tempStateDir,
  testSpec,
  until,
  wideGrid,
  workflowBundle,
} from './harness.js';
import { chunkWorkflowId } from '../../../search/ids.js';

quietWorkerLogs();

/** The no-op trainer, slowed down so that a search is still running while a new build rolls out. */
class SlowNoop implements Executor {
  readonly kind = 'local' as const;
  readonly heartbeatSeconds = 1;
  private readonly noop = new InProcessNoop();
  constructor(private readonly ms: number) {}
  async train(job: TrainingJob, hooks: TrainingHooks) {
    hooks.onLaunch?.({ pid: process.pid });
    await sleep(this.ms, undefined, { signal: hooks.signal });
    return this.noop.train(job);
  }
}

/** Search workers of given builds on one server and store, running the slowed no-op trainer; stopped together. */
class Workers {
  private readonly started: { worker: SearchWorker; running: Promise<void> }[] = [];

  constructor(
    private readonly address: string,
    private readonly stateDir: string,
  ) {}

  /** A worker of this bundle's build, or of `buildId` when given (as EFFSCALE_BUILD_ID names it). */
  async start(workflowBundle: WorkflowBundle, buildId?: string): Promise<SearchWorker> {
    if (buildId) process.env.EFFSCALE_BUILD_ID = buildId;
    try {
      const worker = await createSearchWorker({
        server: { address: this.address },
        stateDir: this.stateDir,
        workflowBundle,
        executorFor: () => new SlowNoop(300),
      });
      this.started.push({ worker, running: worker.worker.run() });
      return worker;
    } finally {
      Reflect.deleteProperty(process.env, 'EFFSCALE_BUILD_ID');
    }
  }

  /** Shuts one worker down and waits until it has stopped. */
  async stopOne(worker: SearchWorker): Promise<void> {
    worker.worker.shutdown();
    await this.started.find((s) => s.worker === worker)?.running;
  }

  async stop(): Promise<void> {
    for (const { worker } of this.started) if (worker.worker.getState() === 'RUNNING') worker.worker.shutdown();
    await Promise.allSettled(this.started.map((s) => s.running));
    for (const { worker } of this.started) await worker.connection.close();
  }
}

function spec(name: string): SearchSpec {
  return testSpec(name, {
    scaling: wideGrid,
    execution: { parallelism: 2, retries: 1, failureBudget: 0, heartbeatTimeout: '20s', local: { noop: true } },
  });
}

async function firstRunOf(client: Client, workflowId: string): Promise<string> {
  const executions = [];
  for await (const e of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) executions.push(e);
  executions.sort((x, y) => x.startTime.getTime() - y.startTime.getTime());
  if (!executions[0]) throw new Error(`no run of ${workflowId}`);
  return executions[0].runId;
}

/** The answer a search gives: the winning coefficients and score, and the family it scaled. */
function answer(result: SearchResult) {
  const { alpha, beta, gamma, score } = result.best ?? {};
  return { alpha, beta, gamma, score, family: result.state.family.map((m) => m.name) };
}

test('a search runs to the end on the build that started it while new searches start on the next build; `effscale upgrade` moves one mid-way without retraining', async () => {
  const stateDir = await tempStateDir('upgrade');
  const server = await ensureDevServer(stateDir);
  const client = new Client({ connection: server.connection });
  const workers = new Workers(server.address, stateDir);
  const startWorker = (bundle: WorkflowBundle) => workers.start(bundle);
  const buildOf = async (id: string) => searchVersion(await client.workflow.getHandle(id).describe()).buildId;
  const version = async (build: string): Promise<DeploymentVersion | undefined> =>
    (await deploymentVersions(client)).find((v) => v.buildId === build);
  try {
    // Build A: this tree. Build B: this tree with a workflow change no A history replays.
    const a = await startWorker(await workflowBundle());
    const bundleB = await bundleWorkflowCode({
      workflowsPath,
      workflowInterceptorModules: [fileURLToPath(new URL('./incompatible-change.js', import.meta.url))],
      logger: new DefaultLogger('ERROR'),
    });
    const finishes = async (id: string) => (await runs(stateDir, id)).filter((r) => r.event === 'finish').length;

    const pinned = await start(client, spec('pinned'));
    await until('search A to train', async () => (await finishes(pinned.workflowId)) >= 2);
    // Held in the middle (however fast the no-op grid trains) until the rollout has been checked.
    await pinned.handle.signal(pauseSignal);
    assert.equal(await buildOf(pinned.workflowId), a.release.buildId);

    const b = await startWorker(bundleB);
    assert.notEqual(b.release.buildId, a.release.buildId);
    await until('build B to be current', async () => (await version(b.release.buildId))?.status === 'current');
    const fresh = await start(client, spec('fresh'));
    await until('the new search to run', async () => (await buildOf(fresh.workflowId)) !== null);
    assert.equal(await buildOf(fresh.workflowId), b.release.buildId, 'a new search starts on the new build');
    await until('the pinned search counted', async () => ((await version(a.release.buildId))?.openPinned ?? 0) >= 1);
    assert.equal((await version(a.release.buildId))?.removable, false, 'build A still runs a search');
    await pinned.handle.signal(resumeSignal);

    // Replayed on B, A's history would fail: it finishes on A, with the answer of a run that never saw B.
    const pinnedResult: SearchResult = await pinned.handle.result();
    const freshResult: SearchResult = await fresh.handle.result();
    assert.equal(pinnedResult.status, 'completed');
    assert.deepEqual(pinnedResult.state.builds, [a.release.buildId]);
    assert.deepEqual(freshResult.state.builds, [b.release.buildId]);
    assert.deepEqual(answer(pinnedResult), answer(freshResult));
    await until('build A to be removable', async () => (await version(a.release.buildId))?.removable === true);
    // Another worker of A starting (its pod evicted and replaced) does not take "current" back from B.
    await until('a second worker of A polling', async () => {
      await startWorker(await workflowBundle());
      return true;
    });
    await sleep(3000);
    assert.equal((await version(b.release.buildId))?.status, 'current', 'a known build leaves the current one');

    // A rollback to A for one search, then B current again, and the search moved on purpose.
    await setCurrentVersion(client.workflowService, 'default', a.release);
    const moved = await start(client, spec('moved'));
    await until('the search to train on A', async () => (await finishes(moved.workflowId)) >= 3);
    assert.equal(await buildOf(moved.workflowId), a.release.buildId);
    await setCurrentVersion(client.workflowService, 'default', b.release);
    const move = await upgradeSearch(client, moved.workflowId);
    assert.deepEqual([move.from, move.to, move.stage], [a.release.buildId, b.release.buildId, 'search']);
    const movedResult: SearchResult = await moved.handle.result();
    assert.equal(movedResult.status, 'completed');
    assert.deepEqual(movedResult.state.builds, [a.release.buildId, b.release.buildId]);
    assert.deepEqual(answer(movedResult), answer(freshResult));
    assert.deepEqual(retrainedAfterFinish(await runs(stateDir, moved.workflowId)), []);
    // The runs that handed the search over, on A: replayed here, and kept as this release's fixtures.
    const chunk = chunkWorkflowId(moved.workflowId, 0);
    await replayAndRecordRuns(client, [
      { workflowId: moved.workflowId, runId: await firstRunOf(client, moved.workflowId), file: 'upgrade-handoff' },
      { workflowId: chunk, runId: await firstRunOf(client, chunk), file: 'upgrade-handoff-chunk' },
    ]);
  } finally {
    await workers.stop();
    await server.stop();
  }
});

test('a session of another build continues a search only if its history replays there', async () => {
  const stateDir = await tempStateDir('adopt');
  const server = await ensureDevServer(stateDir);
  const client = new Client({ connection: server.connection });
  const workers = new Workers(server.address, stateDir);
  const startWorker = (bundle: WorkflowBundle, buildId?: string) => workers.start(bundle, buildId);
  try {
    const a = await startWorker(await workflowBundle());
    const { handle, workflowId } = await start(client, spec('adopted'));
    await until('the search to train', async () =>
      (await runs(stateDir, workflowId)).some((r) => r.event === 'finish'),
    );
    // The session that started it ends (effscale upgraded on this machine): its build is gone.
    await workers.stopOne(a);

    const incompatible = await startWorker(
      await bundleWorkflowCode({
        workflowsPath,
        workflowInterceptorModules: [fileURLToPath(new URL('./incompatible-change.js', import.meta.url))],
        logger: new DefaultLogger('ERROR'),
      }),
    );
    await assert.rejects(
      adoptSearch(client, workflowId, incompatible.release, incompatible.workflowBundle),
      new RegExp(
        `runs on effscale build ${a.release.buildId}, and this build \\(${incompatible.release.buildId}\\) cannot continue it: its history does not replay here`,
      ),
    );
    assert.equal(
      searchVersion(await handle.describe()).buildId,
      a.release.buildId,
      'a refused search stays where it was',
    );
    incompatible.worker.shutdown();

    const next = await startWorker(await workflowBundle(), 'next-build');
    assert.equal(await adoptSearch(client, workflowId, next.release, next.workflowBundle), a.release.buildId);
    const result: SearchResult = await handle.result();
    assert.equal(result.status, 'completed');
    assert.equal(searchVersion(await handle.describe()).buildId, 'next-build');
    assert.deepEqual(retrainedAfterFinish(await runs(stateDir, workflowId)), []);
  } finally {
    await workers.stop();
    await server.stop();
  }
});
