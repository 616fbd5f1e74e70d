import { readFile, stat } from 'node:fs/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Architecture } from '../scaling/architecture.js';
import { CANDIDATE_CONTRACT, TrainResult, type CandidateSpec, type TrainProgress } from '../schemas/candidate.js';
import { searchTraining, type Execution, type SearchSpec } from '../schemas/search.js';
import { isImageFiles, type Dataset } from '../schemas/task.js';
import { datasetIndexDir } from '../trainer/data/dataset-index.js';
import { resultCovering, resultPath, targetEpochs } from '../trainer/result.js';
import { scaleArchitecture, scalingFactors } from '../scaling/scale.js';
import type { Executor, LaunchInfo } from '../executors/executor.js';
import { activityFailure, storageDisruption } from './failures.js';
import {
  appendRun,
  baselineOf,
  readJsonIfExists,
  readSearchSpec,
  searchPaths,
  writeJsonAtomic,
} from '../store/search-dir.js';
import { TRAINING_INTERRUPTED } from '../search/errors.js';
import type { TrainingHeartbeat, TrainInput, TrainOutcome } from '../search/types.js';

function outcomeOf(result: TrainResult, reused: boolean): TrainOutcome {
  return {
    candidateId: result.candidateId,
    score: result.score,
    macs: result.macs,
    seconds: result.seconds,
    modelUri: result.modelUri,
    ...(result.latencyMs !== undefined && { latencyMs: result.latencyMs }),
    resumedFromEpoch: result.resumedFromEpoch,
    epochs: result.epochs.length,
    reused,
  };
}

/** Folds one progress line into the heartbeat; images/s from the batches seen since the previous line. */
function heartbeatOf(last: TrainingHeartbeat, p: TrainProgress, batchSize: number, seconds: number): TrainingHeartbeat {
  switch (p.type) {
    case 'batch': {
      const sameEpoch = last.epoch === p.epoch && last.batch !== undefined && p.batch > last.batch;
      const rate = sameEpoch && seconds > 0 ? ((p.batch - (last.batch ?? 0)) * batchSize) / seconds : undefined;
      const { epochs, candidateId } = last;
      return {
        candidateId,
        epochs,
        epoch: p.epoch,
        batch: p.batch,
        batches: p.batches,
        loss: p.loss,
        ...(rate && { imagesPerSecond: Math.round(rate) }),
      };
    }
    case 'epoch':
      return {
        ...last,
        epoch: p.metrics.epoch,
        valAccuracy: p.metrics.valAccuracy,
        imagesPerSecond: p.metrics.imagesPerSecond,
      };
    case 'start':
      return { candidateId: last.candidateId, epochs: p.epochs, epoch: p.resumedFromEpoch };
    case 'checkpoint':
      return last;
    case 'result':
      return { ...last, done: true };
  }
}

/**
 * A training stopped from outside: cancelled by the search, or interrupted because its worker is shutting down
 * (Ctrl-C of the session). An interruption is not the candidate's failure: the search trains it again later, from
 * its checkpoint, without counting it against the failure budget.
 */
function stopped(reason: unknown, candidateId: string): Error {
  if (reason instanceof CancelledFailure && reason.message === 'WORKER_SHUTDOWN')
    return ApplicationFailure.retryable(
      `training of ${candidateId} interrupted: its worker shut down`,
      TRAINING_INTERRUPTED,
    );
  return new CancelledFailure(`training of ${candidateId} cancelled`);
}

/**
 * The architecture a training trains. A finalist's is a file of the family. A search candidate's is scaled from its
 * α, β, γ once, at its first training, and recorded in its directory: every later rung, retry and resumed run
 * trains the record, so what continues from a checkpoint never changes under it.
 */
async function architectureOf(input: TrainInput, spec: SearchSpec, searchDir: string): Promise<Architecture> {
  if (input.architectureUri) return Architecture.parse(JSON.parse(await readFile(input.architectureUri, 'utf8')));
  const record = searchPaths(searchDir).candidateArchitecture(input.candidateId);
  const recorded = await readJsonIfExists<unknown>(record);
  if (recorded !== undefined) return Architecture.parse(recorded);
  if (!input.coefficients) throw new Error(`training ${input.candidateId}: neither an architecture nor α, β, γ`);
  const { rule, phi } = spec.scaling.grid;
  const architecture = scaleArchitecture(baselineOf(spec), scalingFactors(rule, input.coefficients, phi));
  await writeJsonAtomic(record, architecture);
  return architecture;
}

/** What one training trains, where it writes, and the result already there if one covers it. */
interface Job {
  input: TrainInput;
  searchDir: string;
  spec: SearchSpec;
  candidate: CandidateSpec;
  outDir: string;
  target: number;
  finished?: TrainResult;
}

async function jobOf(input: TrainInput, searchDir: string): Promise<Job> {
  const paths = searchPaths(searchDir);
  const outDir = input.budget === 'search' ? paths.candidate(input.candidateId) : paths.final(input.candidateId);
  const spec = await readSearchSpec(searchDir);
  const budget = input.budget === 'final' ? (spec.final.training ?? spec.training) : searchTraining(spec);
  const training = { ...budget, seed: budget.seed + (input.repeat ?? 0) };
  // The trainer trains one seed: how many the search runs is not part of a candidate.
  const { repeats: _repeats, ...task } = spec.task;
  const candidate: CandidateSpec = {
    contract: CANDIDATE_CONTRACT,
    id: input.candidateId,
    architecture: await architectureOf(input, spec, searchDir),
    task: { ...task, dataset: await withIndex(task.dataset, paths.datasetIndexes) },
    training,
    ...(input.epochs !== undefined && input.epochs < training.epochs && { stopAfter: input.epochs }),
  };
  const done = await readJsonIfExists<unknown>(resultPath(outDir));
  // A later rung trains on from the checkpoint; only a result that covers the epochs asked for is reused.
  const finished = done === undefined ? undefined : resultCovering(TrainResult.parse(done), candidate);
  return { input, searchDir, spec, candidate, outDir, target: targetEpochs(candidate), ...(finished && { finished }) };
}

/** When the trainer last wrote its checkpoint: what a disruption costs is the training since. */
interface Checkpointed {
  at?: number;
}

/**
 * One candidate's training as a durable activity. A finished candidate (its result.json covers the epochs asked
 * for) is never trained again, whatever attempt or worker asks; otherwise the executor trains into the candidate's directory,
 * resuming from its checkpoint. Heartbeats carry the latest progress and deliver cancellation. A full or failing
 * disk anywhere on the way (the spec, the architecture record, the runs log) disrupts the training, never fails it.
 */
export function trainCandidateActivity(
  searchDirOf: (searchId: string) => string,
  executorFor: (execution: Execution) => Executor,
) {
  return async function trainCandidate(input: TrainInput): Promise<TrainOutcome> {
    const ctx = Context.current();
    const checkpointed: Checkpointed = {};
    try {
      const job = await jobOf(input, searchDirOf(input.searchId));
      const executor = executorFor(job.spec.execution);
      if (job.finished) return await reuse(job, job.finished, executor);
      return await train(job, executor, checkpointed);
    } catch (err) {
      if (ctx.cancellationSignal.aborted) throw stopped(ctx.cancellationSignal.reason, input.candidateId);
      const recomputed = checkpointed.at === undefined ? 0 : (performance.now() - checkpointed.at) / 1000;
      throw activityFailure(storageDisruption(err), Math.round(recomputed));
    }
  };
}

async function reuse(job: Job, finished: TrainResult, executor: Executor): Promise<TrainOutcome> {
  const ctx = Context.current();
  const { candidateId, searchId } = job.input;
  await appendRun(job.searchDir, {
    event: 'reuse',
    candidateId,
    attempt: ctx.info.attempt,
    epochs: job.target,
    at: new Date().toISOString(),
  });
  // Tidying up must not fail a finished candidate: a leftover pod is only clutter.
  await executor
    .release?.(searchId, candidateId)
    .catch((e: unknown) => ctx.log.warn(`could not release ${candidateId}: ${String(e)}`));
  return outcomeOf(finished, true);
}

async function train(job: Job, executor: Executor, checkpointed: Checkpointed): Promise<TrainOutcome> {
  const ctx = Context.current();
  const attempt = ctx.info.attempt;
  const { candidateId, searchId, labels } = job.input;
  let details: TrainingHeartbeat = { candidateId };
  let lastAt = performance.now();
  // The one heartbeat source: the latest progress, also while the trainer is silent (a pod waiting for a GPU).
  const beat = setInterval(() => ctx.heartbeat(details), executor.heartbeatSeconds * 1000);
  const launches: Promise<void>[] = [];
  const run = (event: 'launch' | 'finish', launch?: LaunchInfo) =>
    appendRun(job.searchDir, {
      event,
      candidateId,
      attempt,
      epochs: job.target,
      ...launch,
      at: new Date().toISOString(),
    });
  try {
    const result = await executor.train(
      {
        searchId,
        candidateId,
        spec: job.candidate,
        outDir: job.outDir,
        labels,
        checkpointSeconds: job.spec.execution.checkpointMinutes * 60,
      },
      {
        signal: ctx.cancellationSignal,
        onProgress: (p) => {
          const now = performance.now();
          details = heartbeatOf(details, p, job.candidate.training.batchSize, (now - lastAt) / 1000);
          lastAt = now;
          if (SAVES_CHECKPOINT.has(p.type)) checkpointed.at = now;
          ctx.heartbeat(details);
        },
        onLaunch: (info) => {
          launches.push(run('launch', info));
        },
      },
    );
    // The launch lines are written before the finish line, and a failed write fails the activity.
    await Promise.all(launches);
    await run('finish');
    return outcomeOf(result, false);
  } finally {
    clearInterval(beat);
    await Promise.allSettled(launches);
  }
}

/** Progress after which the trainer's checkpoint holds everything trained so far (a start resumed from it). */
const SAVES_CHECKPOINT: ReadonlySet<TrainProgress['type']> = new Set(['start', 'epoch', 'checkpoint']);

/** An image dataset points its trainers at the index the plan step built (searches planned before it had none). */
async function withIndex(dataset: Dataset, root: string): Promise<Dataset> {
  if (!isImageFiles(dataset)) return dataset;
  const dir = datasetIndexDir(root, dataset);
  return (await stat(dir).catch(() => undefined)) ? { ...dataset, index: dir } : dataset;
}
