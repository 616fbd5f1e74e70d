import { after, before } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Worker,
  type NativeConnection,
  type WorkflowBundle,
} from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { parseSpec } from '../../../scaling/validate.js';
import { resolveBaseline } from '../../../scaling/input.js';
import { SearchSpec, type SearchSpecInput } from '../../../schemas/search.js';
import { createActivities, type ActivityOptions } from '../../../activities/index.js';
import { readCandidateTable, type CandidateRow } from '../../../store/candidate-table.js';
import { readRuns, type RunRecord } from '../../../store/search-dir.js';
import { searchAttributeKeys } from '../../../workflows/messages.js';
import { startOrAttach, type Attached } from '../../../client/search.js';
import { temporalCliPath } from '../../../client/dev-server.js';
import { quietWorkerLogs, workflowsPath } from '../../../worker/worker.js';
import { TASK_QUEUE } from '../../../worker/temporal.js';
import { packageVersion } from '../../../schemas/release.js';
import { chunkWorkflowId } from '../../../search/ids.js';

/** Shared by the pipeline tests: a real dev server, one workflow bundle, small specs on Fashion-MNIST. */

let bundle: Promise<WorkflowBundle> | undefined;
export function workflowBundle(): Promise<WorkflowBundle> {
  quietWorkerLogs();
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('ERROR') });
  return bundle;
}

export async function startTestServer(): Promise<TestWorkflowEnvironment> {
  quietWorkerLogs();
  return TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalCliPath() }, searchAttributes: searchAttributeKeys },
  });
}

/**
 * A real dev server for the enclosing suite (or file): started before its tests, torn down after them. Returns an
 * accessor, since the server exists only once the hook ran.
 */
export function withTestServer(): () => TestWorkflowEnvironment {
  let env: TestWorkflowEnvironment | undefined;
  before(async () => {
    env = await startTestServer();
  });
  after(async () => {
    await env?.teardown();
  });
  return () => {
    if (!env) throw new Error('the test server has not started');
    return env;
  };
}

export async function tempStateDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `effscale-${prefix}-`));
}

const cli = fileURLToPath(new URL('../../../../bin/effscale.js', import.meta.url));

/**
 * `effscale worker` as its own process (the one a test SIGKILLs), keeping searches in `stateDir` (its
 * EFFSCALE_STATE_DIR); otherwise it inherits the test's environment.
 */
export function startWorkerProcess(address: string, stateDir: string): ChildProcess {
  return spawn(process.execPath, [cli, 'worker', '--address', address], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, EFFSCALE_STATE_DIR: stateDir },
  });
}

export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `scaling` of a grid of 15 distinct trainings: long enough to interrupt, upgrade or kill a worker in the middle. */
export const wideGrid = {
  grid: {
    alpha: { min: 1, max: 1.3, step: 0.1 },
    beta: { min: 1, max: 1.3, step: 0.1 },
    gamma: { min: 1, max: 1.3, step: 0.1 },
    tolerance: 0.15,
  },
  targets: { phis: [1] },
};

/** A quick search: micro-28 on a Fashion-MNIST subset with the no-op trainer unless told otherwise. */
export function testSpec(name: string, overrides: Partial<SearchSpecInput> = {}): SearchSpec {
  const input: SearchSpecInput = {
    name,
    baseline: 'micro-28',
    task: { dataset: { format: 'fashion-mnist' }, trainLimit: 512, valLimit: 256 },
    training: { epochs: 1, batchSize: 64 },
    scaling: {
      grid: {
        alpha: { min: 1, max: 1.2, step: 0.1 },
        beta: { min: 1, max: 1.2, step: 0.1 },
        gamma: { min: 1, max: 1.4, step: 0.1 },
        tolerance: 0.12,
      },
      targets: { phis: [1, 2] },
    },
    execution: { parallelism: 3, retries: 1, failureBudget: 1, heartbeatTimeout: '20s', local: { noop: true } },
    final: { finalists: 1 },
    ...overrides,
  };
  const spec = parseSpec(SearchSpec, input, 'test spec');
  return { ...spec, baseline: resolveBaseline(spec.baseline, 'baseline') };
}

export { InProcessNoop } from '../../../executors/in-process.js';

export async function createTestWorker(connection: NativeConnection, options: ActivityOptions) {
  return Worker.create({
    connection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await workflowBundle(),
    activities: createActivities(options),
    maxHeartbeatThrottleInterval: '1s',
    defaultHeartbeatThrottleInterval: '1s',
  });
}

export async function start(client: Client, spec: SearchSpec): Promise<Attached> {
  return startOrAttach(client, spec);
}

export function searchDirOf(stateDir: string, workflowId: string): string {
  return join(stateDir, 'searches', workflowId);
}

/** The search's candidate table from the worker's store: every grid point with its training's outcome. */
export async function candidateTable(stateDir: string, workflowId: string): Promise<CandidateRow[]> {
  const table = await readCandidateTable(searchDirOf(stateDir, workflowId));
  if (!table) throw new Error(`search ${workflowId} has no candidate table in ${stateDir}`);
  return table;
}

/** One row per distinct training (its representative grid point). */
export function trainingsOf(table: CandidateRow[]): CandidateRow[] {
  return table.filter((c) => c.state !== 'excluded' && c.sharesTrainingOf === undefined);
}

export async function runs(stateDir: string, workflowId: string): Promise<RunRecord[]> {
  return readRuns(searchDirOf(stateDir, workflowId));
}

/** Candidates launched again (to the same epochs: a rung) after a launch of theirs had finished: must be none. */
export function retrainedAfterFinish(records: RunRecord[]): string[] {
  const finished = new Set<string>();
  const twice: string[] = [];
  for (const r of records) {
    const run = `${r.candidateId}@${r.epochs ?? 'all'}`;
    if (r.event === 'finish') finished.add(run);
    if (r.event === 'launch' && finished.has(run)) twice.push(run);
  }
  return twice;
}

export async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

const { History } = proto.temporal.api.history.v1;

/**
 * History fixtures as JSON via @temporalio/proto's own protobufjs: `historyFromJSON` of @temporalio/common goes
 * through proto3-json-serializer, which here resolves a different protobufjs major and rejects the types.
 */
export function historyToFixture(history: unknown): string {
  const message = History.fromObject(history as Record<string, unknown>);
  return JSON.stringify(History.toObject(message, { longs: String, enums: String, bytes: String }), null, 1);
}

export function historyFromFixture(text: string): unknown {
  return History.fromObject(JSON.parse(text) as Record<string, unknown>);
}

/** Recorded histories, one directory per release (`<release>/<name>.json`): replay.test.ts replays them all. */
export const historiesRoot = fileURLToPath(new URL('../../../../test/fixtures/histories/', import.meta.url));

/**
 * Replays the search's history and its first chunk's against the current code; with EFFSCALE_RECORD_HISTORIES=1
 * (`npm run record-histories`) they are kept as this release's fixtures.
 */
export async function replayAndRecord(client: Client, workflowId: string, name: string): Promise<void> {
  await replayAndRecordRuns(client, [
    { workflowId, file: name },
    { workflowId: chunkWorkflowId(workflowId, 0), file: `${name}-chunk` },
  ]);
}

/** As replayAndRecord, for given runs (a run that handed its search to another build, say). */
export async function replayAndRecordRuns(
  client: Client,
  runs: { workflowId: string; runId?: string; file: string }[],
): Promise<void> {
  const bundle = await workflowBundle();
  for (const { workflowId, runId, file } of runs) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: bundle }, history, workflowId);
    if (!process.env.EFFSCALE_RECORD_HISTORIES) continue;
    const dir = join(historiesRoot, packageVersion);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${file}.json`), historyToFixture(history));
  }
}

/** The one-line summaries the Temporal UI shows for a workflow's scheduled activities, in order. */
export async function activitySummaries(client: Client, workflowId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const summary = e.activityTaskScheduledEventAttributes && e.userMetadata?.summary;
    return summary ? [defaultPayloadConverter.fromPayload<string>(summary)] : [];
  });
}
