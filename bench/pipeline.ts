import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Executor } from '../executors/executor.js';
import { InProcessNoop } from '../executors/in-process.js';
import { createActivities } from '../activities/index.js';
import { planGrid } from '../scaling/grid.js';
import { scalingGrid } from '../activities/plan.js';
import { resolveBaseline } from '../scaling/input.js';
import { parseSpec } from '../scaling/validate.js';
import { SearchSpec, type SearchSpecInput } from '../schemas/search.js';
import { trainCandidate } from '../trainer/train.js';
import { startOrAttach } from '../client/search.js';
import { ensureDevServer } from '../client/dev-server.js';
import { TASK_QUEUE } from '../worker/temporal.js';
import { quietWorkerLogs, workflowsPath } from '../worker/worker.js';
import type { SearchResult } from '../search/state.js';
import { chunkWorkflowId } from '../search/ids.js';

const { HistoryEvent } = proto.temporal.api.history.v1;

/**
 * Orchestration overhead of the search pipeline with the no-op trainer, against calling the trainer entry
 * directly with the same parallelism, measured in the same run:
 * - in-process: the trainer entry function vs. the workflow + activities calling it (the Temporal cost), at each
 *   size of BENCH_CANDIDATES (comma-separated, default 1000; every grid point is its own training here, a
 *   benchmark-only switch, since no grid yields 100k distinct rounded architectures);
 * - process: `effscale train --noop` spawned directly vs. through the local executor (what a real search pays),
 *   BENCH_PROCESS_CANDIDATES (default 200).
 * For each: history events per candidate, the largest history event (an upper bound on any payload) and the
 * workflow runs (the search's and its chunks'). `-- --json` prints the figures as JSON.
 */

const parallelism = 8;
const sizes = (process.env.BENCH_CANDIDATES ?? '1000').split(',').map(Number);
const processCandidates = Number(process.env.BENCH_PROCESS_CANDIDATES ?? 200);
const json = process.argv.includes('--json');
const cli = fileURLToPath(new URL('../../bin/effscale.js', import.meta.url));
const stateDir = join(process.env.BENCH_STATE_DIR ?? '/tmp', `effscale-bench-${process.pid}`);

/** Random coefficients on EfficientNet-B0 giving `n` grid points (distinct trainings when `dedup` is off). */
function specFor(name: string, n: number, executor: SearchSpecInput['execution'], dedup: boolean): SearchSpec {
  const baseline = resolveBaseline({ preset: 'efficientnet-b0', inputChannels: 1, classes: 10 }, 'bench baseline');
  const range = { min: 1, max: 2, step: 0.01 };
  let count = n;
  for (;;) {
    const grid = { alpha: range, beta: range, gamma: range, tolerance: 0.02, random: { count, seed: 7 } };
    const plan = planGrid(baseline, grid);
    if ((dedup ? plan.trainCount : plan.candidates.length) >= n) {
      const input: SearchSpecInput = {
        name,
        baseline,
        task: { dataset: { format: 'fashion-mnist' } },
        scaling: { grid, targets: { phis: [1] } },
        execution: { ...executor, parallelism, failureBudget: 0 },
        final: { finalists: 0 },
      };
      return parseSpec(SearchSpec, input, 'bench spec');
    }
    count = Math.ceil(count * 1.25);
  }
}

async function pool<T>(items: T[], width: number, run: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await run(items[next++]);
    }),
  );
}

async function jobsOf(
  spec: SearchSpec,
  dir: string,
  dedup: boolean,
): Promise<{ spec: unknown; outDir: string; file: string }[]> {
  const { writeFile } = await import('node:fs/promises');
  const baseline = resolveBaseline(spec.baseline, 'baseline');
  const plan = planGrid(baseline, scalingGrid(spec.scaling.grid));
  const seen = new Set<number>();
  const jobs = [];
  for (const c of plan.candidates) {
    if ((dedup && seen.has(c.dedupGroup)) || c.excluded) continue;
    seen.add(c.dedupGroup);
    const outDir = join(dir, `c${c.index}`);
    await mkdir(outDir, { recursive: true });
    const candidate = { id: `c${c.index}`, architecture: c.architecture, task: spec.task, training: spec.training };
    const file = join(outDir, 'candidate.json');
    await writeFile(file, JSON.stringify(candidate));
    jobs.push({ spec: candidate, outDir, file });
  }
  return jobs;
}

const directFailures: string[] = [];

/** One direct trainer process; a failed one is retried once, as the pipeline's retry policy would. */
async function spawnTrainer(file: string, outDir: string, retry = true): Promise<void> {
  const stderr = await new Promise<string | undefined>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'train', '--spec', file, '--out', outDir, '--noop'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err = (err + chunk.toString()).slice(-2000)));
    child.once('error', reject);
    child.once('close', (code) => resolve(code === 0 ? undefined : `exit ${code}: ${err.trim()}`));
  });
  if (stderr === undefined) return;
  directFailures.push(stderr);
  if (retry) return spawnTrainer(file, outDir, false);
  throw new Error(`trainer failed twice for ${file}: ${stderr}`);
}

interface Histories {
  events: number;
  runs: number;
  maxEventBytes: number;
}

/** Every run of the search and of its chunks: events, runs and the largest event, encoded as the server stores it. */
async function histories(client: Client, workflowId: string, chunks: number): Promise<Histories> {
  const total: Histories = { events: 0, runs: 0, maxEventBytes: 0 };
  const ids = [workflowId, ...Array.from({ length: chunks }, (_, k) => chunkWorkflowId(workflowId, k))];
  for (const id of ids) {
    for await (const run of client.workflow.list({ query: `WorkflowId = '${id}'` })) {
      const history = await client.workflow.getHandle(id, run.runId).fetchHistory();
      for (const event of history.events ?? []) {
        total.maxEventBytes = Math.max(total.maxEventBytes, HistoryEvent.encode(event).finish().length);
      }
      total.events += history.events?.length ?? 0;
      total.runs++;
    }
  }
  return total;
}

interface PipelineRun extends Histories {
  seconds: number;
  trained: number;
}

async function pipeline(
  client: Client,
  connection: NativeConnection,
  spec: SearchSpec,
  options: { executor?: Executor; dedup: boolean },
): Promise<PipelineRun> {
  const bundle = await import('@temporalio/worker').then((w) =>
    w.bundleWorkflowCode({ workflowsPath, logger: new w.DefaultLogger('ERROR') }),
  );
  const { executor, dedup } = options;
  const worker = await Worker.create({
    connection,
    taskQueue: TASK_QUEUE,
    workflowBundle: bundle,
    activities: createActivities({ stateDir, dedup, ...(executor && { executorFor: () => executor }) }),
    maxConcurrentActivityTaskExecutions: parallelism * 2,
  });
  const started = performance.now();
  const { handle, workflowId } = await startOrAttach(client, spec);
  const result: SearchResult = await worker.runUntil(handle.result());
  const seconds = (performance.now() - started) / 1000;
  const trained = result.state.chunks.reduce((n, c) => n + (c.counts?.succeeded ?? 0), 0);
  return { seconds, trained, ...(await histories(client, workflowId, result.state.chunks.length)) };
}

interface Figures {
  mode: string;
  candidates: number;
  directSeconds: number;
  pipelineSeconds: number;
  overheadMsPerCandidate: number;
  eventsPerCandidate: number;
  maxPayloadBytes: number;
  runs: number;
}

function figures(mode: string, direct: number, pipe: PipelineRun): Figures {
  return {
    mode,
    candidates: pipe.trained,
    directSeconds: round(direct),
    pipelineSeconds: round(pipe.seconds),
    overheadMsPerCandidate: round(((pipe.seconds - direct) * 1000) / pipe.trained),
    eventsPerCandidate: round(pipe.events / pipe.trained),
    maxPayloadBytes: pipe.maxEventBytes,
    runs: pipe.runs,
  };
}

const round = (x: number) => Number(x.toFixed(2));

function print(f: Figures): void {
  if (json) return;
  console.log(
    `${f.mode}: ${f.candidates} candidates at parallelism ${parallelism}: direct ${f.directSeconds} s, ` +
      `pipeline ${f.pipelineSeconds} s (ratio ${(f.pipelineSeconds / f.directSeconds).toFixed(2)}x), ` +
      `overhead ${f.overheadMsPerCandidate} ms/candidate (target <= 20), ${f.eventsPerCandidate} history ` +
      `events/candidate over ${f.runs} workflow runs, largest event ${(f.maxPayloadBytes / 1024).toFixed(1)} KiB ` +
      `(target <= 256 KiB)`,
  );
}

async function inProcessRun(client: Client, connection: NativeConnection, n: number): Promise<Figures> {
  const spec = specFor(`bench-inprocess-${n}`, n, { executor: 'local' }, false);
  const jobs = await jobsOf(spec, join(stateDir, `direct-inprocess-${n}`), false);
  const t = performance.now();
  await pool(jobs, parallelism, (j) => trainCandidate(j.spec, j.outDir, { noop: true }));
  const direct = (performance.now() - t) / 1000;
  const run = await pipeline(client, connection, spec, { executor: new InProcessNoop(), dedup: false });
  return figures('in-process trainer entry', direct, run);
}

async function processRun(client: Client, connection: NativeConnection): Promise<Figures> {
  const spec = specFor('bench-process', processCandidates, { executor: 'local', local: { noop: true } }, true);
  const jobs = await jobsOf(spec, join(stateDir, 'direct-process'), true);
  const t = performance.now();
  await pool(jobs, parallelism, (j) => spawnTrainer(j.file, j.outDir));
  const direct = (performance.now() - t) / 1000;
  if (directFailures.length)
    console.error(`direct trainer failures (retried): ${directFailures.length}: ${directFailures[0]}`);
  return figures('trainer process per candidate', direct, await pipeline(client, connection, spec, { dedup: true }));
}

quietWorkerLogs();
const server = await ensureDevServer(stateDir);
const connection = await NativeConnection.connect({ address: server.address });
const client = new Client({ connection: server.connection });
const results: Figures[] = [];
try {
  for (const n of sizes.filter((n) => n > 0)) {
    results.push(await inProcessRun(client, connection, n));
    print(results.at(-1) as Figures);
  }
  if (processCandidates > 0) {
    results.push(await processRun(client, connection));
    print(results.at(-1) as Figures);
  }
  if (json) console.log(JSON.stringify(results, null, 2));
} finally {
  await connection.close();
  await server.stop();
}
