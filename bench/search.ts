import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { readCandidateTable, type CandidateRow } from '../store/candidate-table.js';
import { searchDirOf, searchPaths } from '../store/search-dir.js';
import { parseSpec } from '../scaling/validate.js';
import { TrainResult } from '../schemas/candidate.js';
import { SearchSpec, type SearchSpecInput } from '../schemas/search.js';
import { startOrAttach } from '../client/search.js';
import { ensureDevServer } from '../client/dev-server.js';
import { TASK_QUEUE } from '../worker/temporal.js';
import { quietWorkerLogs, workflowsPath } from '../worker/worker.js';
import { type SearchResult } from '../search/state.js';
import { resultPath } from '../trainer/result.js';
import { ranksBefore } from '../search/ranking.js';

/**
 * The cost of the same real search run exhaustively and with successive halving, on this machine, in one run:
 * micro-28 on a Fashion-MNIST subset, a grid of 12 distinct trainings, at most BENCH_EPOCHS (default 9) epochs
 * each, real training through the local executor. Cost is summed over every training: epoch-seconds (the
 * trainer's own time per epoch, over every rung) and epoch × multiply-adds per image. Prints both strategies'
 * costs, their ratio, the α/β/γ each chose and the rank of halving's choice among the exhaustive scores.
 * Target: cost ratio ≤ 0.5 with halving's choice in the exhaustive top 3. `-- --json` prints the figures.
 */

const json = process.argv.includes('--json');
const epochs = Number(process.env.BENCH_EPOCHS ?? 9);
const stateDir = join(process.env.BENCH_STATE_DIR ?? '/tmp', `effscale-bench-search-${process.pid}`);

function specFor(strategy: 'exhaustive' | 'halving'): SearchSpec {
  const input: SearchSpecInput = {
    name: `bench-${strategy}`,
    baseline: 'micro-28',
    task: { dataset: { format: 'fashion-mnist' }, trainLimit: 2000, valLimit: 1000 },
    training: { epochs, batchSize: 32, learningRate: 0.002 },
    scaling: {
      grid: {
        alpha: { min: 1, max: 1.3, step: 0.1 },
        beta: { min: 1, max: 1.2, step: 0.1 },
        gamma: { min: 1, max: 1.3, step: 0.1 },
        tolerance: 0.15,
        strategy,
        halving: { eta: 3, minEpochs: 1 },
      },
      targets: { phis: [1] },
    },
    execution: { executor: 'local', parallelism: 2, retries: 1, failureBudget: 0 },
    final: { finalists: 0 },
  };
  return parseSpec(SearchSpec, input, 'bench spec');
}

interface Cost {
  epochSeconds: number;
  epochMacs: number;
  epochs: number;
}

/** A training's cost from its result: the trainer's elapsed seconds carry over every resume. */
async function costOf(searchDir: string, row: CandidateRow): Promise<Cost> {
  const file = resultPath(searchPaths(searchDir).candidate(row.group));
  const result = TrainResult.parse(JSON.parse(await readFile(file, 'utf8')));
  const trained = result.epochs.length;
  return {
    epochSeconds: result.epochs[trained - 1]?.elapsedSeconds ?? 0,
    epochMacs: trained * row.macs,
    epochs: trained,
  };
}

interface Run {
  result: SearchResult;
  trainings: CandidateRow[];
  cost: Cost;
  wallSeconds: number;
}

async function run(client: Client, worker: Worker, spec: SearchSpec): Promise<Run> {
  const started = performance.now();
  const { handle, workflowId } = await startOrAttach(client, spec);
  const result: SearchResult = await worker.runUntil(handle.result());
  const wallSeconds = (performance.now() - started) / 1000;
  const searchDir = searchDirOf(stateDir, workflowId);
  const table = (await readCandidateTable(searchDir)) ?? [];
  const trainings = table.filter((c) => c.state !== 'excluded' && c.sharesTrainingOf === undefined);
  const cost: Cost = { epochSeconds: 0, epochMacs: 0, epochs: 0 };
  for (const t of trainings) {
    const c = await costOf(searchDir, t);
    cost.epochSeconds += c.epochSeconds;
    cost.epochMacs += c.epochMacs;
    cost.epochs += c.epochs;
  }
  return { result, trainings, cost, wallSeconds };
}

/** 1-based rank of a training among the exhaustive run's, by the search's own ranking rule. */
function rankIn(exhaustive: Run, group: string | undefined): number | null {
  const scored = exhaustive.trainings
    .filter((t) => t.score !== undefined)
    .map((t) => ({ ...t, score: t.score ?? 0 }))
    .sort((a, b) => (ranksBefore(a, b, true) ? -1 : 1));
  const i = scored.findIndex((t) => t.group === group);
  return i < 0 ? null : i + 1;
}

const chosen = (r: Run) =>
  r.result.best && {
    alpha: r.result.best.alpha,
    beta: r.result.best.beta,
    gamma: r.result.best.gamma,
    score: r.result.best.score,
  };
const round = (x: number, digits = 2) => Number(x.toFixed(digits));

async function main(): Promise<void> {
  quietWorkerLogs();
  const server = await ensureDevServer(stateDir);
  const connection = await NativeConnection.connect({ address: server.address });
  try {
    const client = new Client({ connection: server.connection });
    const bundle = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('ERROR') });
    const runs: Record<string, Run> = {};
    for (const strategy of ['exhaustive', 'halving'] as const) {
      const worker = await Worker.create({
        connection,
        taskQueue: TASK_QUEUE,
        workflowBundle: bundle,
        activities: createActivities({ stateDir }),
      });
      runs[strategy] = await run(client, worker, specFor(strategy));
    }
    const { exhaustive, halving } = runs;
    const costRatio = round(halving.cost.epochSeconds / exhaustive.cost.epochSeconds, 3);
    const figures = {
      exhaustive: { cost: costJson(exhaustive), chosen: chosen(exhaustive) },
      halving: {
        cost: costJson(halving),
        chosen: chosen(halving),
        rankInExhaustive: rankIn(exhaustive, halving.result.best?.group),
      },
      costRatio,
      macsRatio: round(halving.cost.epochMacs / exhaustive.cost.epochMacs, 3),
    };
    if (json) console.log(JSON.stringify(figures, null, 2));
    else printFigures(figures, runs);
  } finally {
    await connection.close();
    await server.stop();
  }
}

function costJson(r: Run) {
  return {
    epochSeconds: round(r.cost.epochSeconds, 1),
    epochMacs: r.cost.epochMacs,
    epochs: r.cost.epochs,
    trainings: r.trainings.length,
    wallSeconds: round(r.wallSeconds, 1),
  };
}

interface Figures {
  costRatio: number;
  macsRatio: number;
  halving: { rankInExhaustive: number | null };
}

function printFigures(f: Figures, runs: Record<string, Run>): void {
  for (const name of ['exhaustive', 'halving'] as const) {
    const c = costJson(runs[name]);
    const best = chosen(runs[name]);
    console.log(
      `${name}: ${c.trainings} trainings, ${c.epochs} epochs, ${c.epochSeconds} epoch-seconds, ` +
        `${round(c.epochMacs / 1e9)} G epoch×MACs, wall ${c.wallSeconds} s; chose α=${best?.alpha} β=${best?.beta} ` +
        `γ=${best?.gamma} (score ${best?.score.toFixed(4)})`,
    );
  }
  console.log(
    `cost ratio (halving / exhaustive, epoch-seconds): ${f.costRatio} (target <= 0.5); epoch×MACs ratio ` +
      `${f.macsRatio}; halving's choice ranks ${f.halving.rankInExhaustive} of ${runs.exhaustive.trainings.length} ` +
      `in the exhaustive run (target: top 3)`,
  );
}

await main();
