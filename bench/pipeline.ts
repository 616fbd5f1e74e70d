import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Executor, TrainingJob } from '../activities/executor.js';
import { createActivities } from '../activities/index.js';
import { planGrid } from '../scaling/grid.js';
import { resolveBaseline } from '../scaling/input.js';
import { parseSpec } from '../scaling/validate.js';
import { SearchSpec, type SearchSpecInput } from '../spec/search.js';
import { trainCandidate } from '../trainer/train.js';
import { startOrAttach } from '../worker/client.js';
import { ensureDevServer } from '../worker/dev-server.js';
import { TASK_QUEUE } from '../worker/temporal.js';
import { quietWorkerLogs, workflowsPath } from '../worker/worker.js';
import type { SearchResult } from '../workflows/state.js';

/**
 * Orchestration overhead of the search pipeline with the no-op trainer, against calling the trainer entry
 * directly with the same parallelism, measured in the same run:
 * - in-process: the trainer entry function vs. the workflow + activities calling it (the Temporal cost);
 * - process: `effscale train --noop` spawned directly vs. through the local executor (what a real search pays).
 * Also history events per candidate. Sizes: BENCH_CANDIDATES (default 1000), BENCH_PROCESS_CANDIDATES (200).
 */

const parallelism = 8;
const candidates = Number(process.env.BENCH_CANDIDATES ?? 1000);
const processCandidates = Number(process.env.BENCH_PROCESS_CANDIDATES ?? 200);
const cli = fileURLToPath(new URL('../../bin/effscale.js', import.meta.url));
const stateDir = join(process.env.BENCH_STATE_DIR ?? '/tmp', `effscale-bench-${process.pid}`);

/** A random coefficient set on EfficientNet-B0 large enough to give `n` distinct trainings. */
function specFor(name: string, n: number, executor: SearchSpecInput['execution']): SearchSpec {
  const baseline = resolveBaseline({ preset: 'efficientnet-b0', inputChannels: 1, classes: 10 }, 'bench baseline');
  const range = { min: 1, max: 2, step: 0.01 };
  let count = n;
  for (;;) {
    const grid = { alpha: range, beta: range, gamma: range, tolerance: 0.02, random: { count, seed: 7 } };
    const plan = planGrid(baseline, grid);
    if (plan.trainCount >= n) {
      const input: SearchSpecInput = {
        name,
        baseline,
        task: { dataset: { format: 'fashion-mnist' } },
        scaling: { grid, targets: { phis: [1] } },
        execution: { ...executor, parallelism, failureBudget: 0, continueAsNewAfter: 8000 },
        final: { finalists: 0 },
      };
      return parseSpec(SearchSpec, input, 'bench spec');
    }
    count = Math.ceil(count * 1.25);
  }
}

/** The trainer entry called in-process: isolates what Temporal adds from process start-up. */
class InProcessNoop implements Executor {
  readonly kind = 'local' as const;
  train(job: TrainingJob) {
    return trainCandidate(job.spec, job.outDir, { noop: true });
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

async function jobsOf(spec: SearchSpec, dir: string): Promise<{ spec: unknown; outDir: string; file: string }[]> {
  const { writeFile } = await import('node:fs/promises');
  const baseline = resolveBaseline(spec.baseline, 'baseline');
  const plan = planGrid(baseline, spec.scaling.grid);
  const seen = new Set<number>();
  const jobs = [];
  for (const c of plan.candidates) {
    if (seen.has(c.dedupGroup) || c.excluded) continue;
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

async function historyEvents(client: Client, workflowId: string): Promise<{ events: number; runs: number }> {
  let events = 0;
  let runs = 0;
  for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const history = await client.workflow.getHandle(workflowId, run.runId).fetchHistory();
    events += history.events?.length ?? 0;
    runs++;
  }
  return { events, runs };
}

async function pipeline(client: Client, connection: NativeConnection, spec: SearchSpec, executor?: Executor) {
  const bundle = await import('@temporalio/worker').then((w) =>
    w.bundleWorkflowCode({ workflowsPath, logger: new w.DefaultLogger('ERROR') }),
  );
  const worker = await Worker.create({
    connection,
    taskQueue: TASK_QUEUE,
    workflowBundle: bundle,
    activities: createActivities({ stateDir, ...(executor && { executorFor: () => executor }) }),
    maxConcurrentActivityTaskExecutions: parallelism * 2,
  });
  const started = performance.now();
  const { handle, workflowId } = await startOrAttach(client, spec);
  const result: SearchResult = await worker.runUntil(handle.result());
  const seconds = (performance.now() - started) / 1000;
  const trained = Object.values(result.state.groups).filter((g) => g.state === 'succeeded').length;
  return { seconds, trained, ...(await historyEvents(client, workflowId)) };
}

function report(
  label: string,
  n: number,
  direct: number,
  pipe: { seconds: number; trained: number; events: number; runs: number },
) {
  const overheadMs = ((pipe.seconds - direct) * 1000) / pipe.trained;
  console.log(
    `${label}: ${pipe.trained} candidates at parallelism ${parallelism}: direct ${direct.toFixed(1)} s ` +
      `(${((direct * 1000) / n).toFixed(1)} ms/candidate), pipeline ${pipe.seconds.toFixed(1)} s ` +
      `(${((pipe.seconds * 1000) / pipe.trained).toFixed(1)} ms/candidate), ratio ${(pipe.seconds / direct).toFixed(2)}x, ` +
      `overhead ${overheadMs.toFixed(1)} ms/candidate (target <= 50), ` +
      `${(pipe.events / pipe.trained).toFixed(2)} history events/candidate over ${pipe.runs} run(s)`,
  );
}

async function inProcessRun(client: Client, connection: NativeConnection): Promise<void> {
  const spec = specFor('bench-inprocess', candidates, { executor: 'local' });
  const jobs = await jobsOf(spec, join(stateDir, 'direct-inprocess'));
  const t = performance.now();
  await pool(jobs, parallelism, (j) => trainCandidate(j.spec, j.outDir, { noop: true }));
  const direct = (performance.now() - t) / 1000;
  report(
    'in-process trainer entry',
    jobs.length,
    direct,
    await pipeline(client, connection, spec, new InProcessNoop()),
  );
}

async function processRun(client: Client, connection: NativeConnection): Promise<void> {
  const spec = specFor('bench-process', processCandidates, { executor: 'local', local: { noop: true } });
  const jobs = await jobsOf(spec, join(stateDir, 'direct-process'));
  const t = performance.now();
  await pool(jobs, parallelism, (j) => spawnTrainer(j.file, j.outDir));
  const direct = (performance.now() - t) / 1000;
  if (directFailures.length)
    console.log(`direct trainer failures (retried): ${directFailures.length}: ${directFailures[0]}`);
  report('trainer process per candidate', jobs.length, direct, await pipeline(client, connection, spec));
}

quietWorkerLogs();
const server = await ensureDevServer(stateDir);
const connection = await NativeConnection.connect({ address: server.address });
const client = new Client({ connection: server.connection });
try {
  if (candidates > 0) await inProcessRun(client, connection);
  if (processCandidates > 0) await processRun(client, connection);
} finally {
  await connection.close();
  await server.stop();
}
