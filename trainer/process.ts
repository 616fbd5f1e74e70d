import { readFile, writeFile } from 'node:fs/promises';
import { parseSpec, SpecError } from '../scaling/validate.js';
import { CandidateSpec, checkContract, type TrainProgress, type TrainResult } from '../schemas/candidate.js';
import { TRAINER_EXIT, type TrainerArgs } from '../schemas/trainer-process.js';
import { storageErrno } from '../search/errors.js';
import { CheckpointMismatchError } from './checkpoint.js';
import { DatasetError } from './data/source.js';
import { compactResult, resultPath } from './result.js';
import { trainCandidate, TrainingStopped } from './train.js';

/**
 * One candidate's training as a process: signals stop it at a batch boundary with the checkpoint kept, progress
 * goes to stdout, the outcome to the exit code and the termination log (schemas/trainer-process.ts). Used by the
 * trainer entry (trainer/main.ts) and by `effscale train`.
 */

export interface TrainerRun extends Omit<TrainerArgs, 'spec'> {
  /** Print the result JSON on stdout (`effscale train --json`). */
  json?: boolean;
}

const SIGNAL_EXIT = { SIGTERM: TRAINER_EXIT.stopped, SIGINT: TRAINER_EXIT.interrupted } as const;

/** Trains `spec` into `run.out` and returns the process's exit code; errors are printed, never thrown. */
export async function runTrainer(spec: CandidateSpec, run: TrainerRun): Promise<number> {
  const log = (line: string) => process.stderr.write(`effscale train: ${line}\n`);
  const controller = new AbortController();
  let stoppedBy: keyof typeof SIGNAL_EXIT = 'SIGTERM';
  const stop = (signal: keyof typeof SIGNAL_EXIT) => () => {
    stoppedBy = signal;
    log(`${signal} received, stopping at the next batch boundary`);
    controller.abort();
  };
  const onTerm = stop('SIGTERM');
  const onInt = stop('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  const orphaned = watchParent(onTerm);
  try {
    const result = await trainCandidate(spec, run.out, {
      backend: run.backend,
      engine: run.engine,
      noop: run.noop,
      checkpointSeconds: run['checkpoint-seconds'],
      signal: controller.signal,
      onProgress: (p: TrainProgress) => {
        if (run.progress === 'jsonl') process.stdout.write(JSON.stringify(p) + '\n');
      },
      log,
    });
    await writeTerminationLog(run['termination-log'], compactResult(result));
    report(spec, run, result);
    return TRAINER_EXIT.ok;
  } catch (err) {
    if (err instanceof TrainingStopped) {
      await writeTerminationLog(run['termination-log'], JSON.stringify({ stopped: err.message }));
      log(err.message);
      return SIGNAL_EXIT[stoppedBy];
    }
    if (storageErrno(err)) {
      process.stderr.write(`effscale: the storage failed, not the training: ${String(err)}\n`);
      return TRAINER_EXIT.storage;
    }
    const badInput = isBadInput(err);
    const message = err instanceof Error ? err.message : String(err);
    await writeTerminationLog(run['termination-log'], JSON.stringify({ error: message.slice(0, 3500), badInput }));
    process.stderr.write(`effscale: ${badInput || !process.env.EFFSCALE_DEBUG ? message : String(err)}\n`);
    return badInput ? TRAINER_EXIT.badInput : TRAINER_EXIT.failed;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    clearInterval(orphaned);
  }
}

/** Input no retry can fix: the executors record the candidate as failed instead of training it again. */
export function isBadInput(err: unknown): boolean {
  return err instanceof SpecError || err instanceof DatasetError || err instanceof CheckpointMismatchError;
}

/** The candidate spec file an executor wrote; a SpecError names the file and the field. */
export async function readCandidateSpec(path: string): Promise<CandidateSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new SpecError(`cannot read the candidate spec file ${path}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SpecError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  checkContract(value, `candidate spec ${path}`);
  return parseSpec(CandidateSpec, value, `candidate spec ${path}`);
}

function report(spec: CandidateSpec, run: TrainerRun, result: TrainResult): void {
  if (run.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else if (run.progress !== 'jsonl') {
    process.stderr.write(
      `effscale train: ${spec.id} ${result.metric} ${result.score.toFixed(4)} (${result.backend}, ${result.engine} engine), ` +
        `${result.imagesPerSecond.toFixed(1)} img/s, result in ${resultPath(run.out)}\n`,
    );
  }
}

/**
 * A trainer launched by a worker (the local executor sets EFFSCALE_PARENT_PID) stops like on SIGTERM, checkpoint
 * kept, when that worker dies: a session killed with SIGKILL leaves no training behind.
 */
function watchParent(stop: () => void): NodeJS.Timeout | undefined {
  const parent = Number(process.env.EFFSCALE_PARENT_PID);
  if (!parent) return undefined;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    stop();
  }, 1000);
  timer.unref();
  return timer;
}

async function writeTerminationLog(path: string | undefined, text: string): Promise<void> {
  if (path) await writeFile(path, text).catch(() => undefined);
}
