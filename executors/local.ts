import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { LocalExecution } from '../schemas/local.js';
import { TrainProgress, TrainResult } from '../schemas/candidate.js';
import { TRAINER_EXIT, TRAINER_FILES, trainerArgv } from '../schemas/trainer-process.js';
import {
  CandidateInputError,
  TrainerTooOldError,
  TrainingDisrupted,
  type Executor,
  type TrainingHooks,
  type TrainingJob,
} from './executor.js';
import { processAlive, stopProcess } from './process.js';
import { resultPath } from '../trainer/result.js';
import { writeFileAtomic } from '../trainer/durable.js';

const defaultTrainer = [process.execPath, fileURLToPath(new URL('../../bin/effscale-trainer.js', import.meta.url))];
const STDERR_TAIL = 4000;

/** A recorded pid may have been reused by an unrelated process: only a trainer for this directory counts. */
async function trainsInto(pid: number, outDir: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  return cmdline === null ? processAlive(pid) : cmdline.split('\0').includes(outDir);
}

/**
 * Runs each candidate as a trainer child process writing into the candidate's own directory. A retried attempt
 * uses the same directory, so the trainer resumes from its checkpoint; a trainer left behind by a dead worker
 * (its pid file) is stopped first so two processes never write the same checkpoint.
 */
export class LocalExecutor implements Executor {
  readonly kind = 'local' as const;
  readonly heartbeatSeconds = 1;
  private readonly command: string[];

  constructor(private readonly options: LocalExecution = LocalExecution.parse({})) {
    this.command = options.trainer ?? defaultTrainer;
  }

  async train(job: TrainingJob, hooks: TrainingHooks): Promise<TrainResult> {
    await mkdir(job.outDir, { recursive: true });
    const specPath = join(job.outDir, TRAINER_FILES.spec);
    const pidPath = join(job.outDir, TRAINER_FILES.pid);
    await writeFileAtomic(specPath, JSON.stringify(job.spec, null, 2));
    await this.stopStale(pidPath, job.outDir);
    if (hooks.signal.aborted) throw new Error('training cancelled before it started');

    const args = [
      ...this.command.slice(1),
      ...trainerArgv({
        spec: specPath,
        out: job.outDir,
        progress: 'jsonl',
        noop: this.options.noop,
        'checkpoint-seconds': job.checkpointSeconds,
      }),
    ];
    // Its own process group: a Ctrl-C in the session's terminal reaches the session, which stops the trainer
    // through cancellation; EFFSCALE_PARENT_PID makes the trainer stop if this worker dies.
    const child = spawn(this.command[0], args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, EFFSCALE_PARENT_PID: String(process.pid) },
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    // Read from the start, with listeners rather than an async iterator: the child's 'close' comes only after its
    // output has ended, so every line has been handled once `exited` resolves.
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL);
    });
    let result: TrainResult | undefined;
    let progressError: unknown;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const parsed = TrainProgress.safeParse(safeJson(line));
      if (!parsed.success) return;
      if (parsed.data.type === 'result') result = parsed.data.result;
      try {
        hooks.onProgress(parsed.data);
      } catch (err) {
        progressError ??= err;
      }
    });
    if (child.pid !== undefined) {
      await writeFile(pidPath, String(child.pid));
      hooks.onLaunch?.({ pid: child.pid });
    }

    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), this.options.graceSeconds * 1000);
    };
    hooks.signal.addEventListener('abort', stop, { once: true });

    const { code, signal } = await exited.finally(() => {
      clearTimeout(killTimer);
      hooks.signal.removeEventListener('abort', stop);
    });
    await rm(pidPath, { force: true });
    if (progressError !== undefined) throw progressError;

    if (hooks.signal.aborted) throw new Error(`training of ${job.candidateId} cancelled (pid ${child.pid})`);
    const tail = stderr.trim().split('\n').slice(-5).join('\n');
    if (code === TRAINER_EXIT.badInput) throw new CandidateInputError(`trainer rejected ${job.candidateId}: ${tail}`);
    if (code === TRAINER_EXIT.newerContract) throw new TrainerTooOldError(tail);
    if (code === TRAINER_EXIT.storage) throw new TrainingDisrupted('StorageFailed', tail);
    if (code !== 0) {
      throw new Error(
        `trainer for ${job.candidateId} exited with ${signal ?? `code ${code}`}: ${tail || '(no output)'}`,
      );
    }
    return result ?? TrainResult.parse(JSON.parse(await readFile(resultPath(job.outDir), 'utf8')));
  }

  private async stopStale(pidPath: string, outDir: string): Promise<void> {
    const pid = Number(await readFile(pidPath, 'utf8').catch(() => ''));
    if (!pid || !(await trainsInto(pid, outDir))) return;
    await stopProcess(pid, this.options.graceSeconds * 1000);
  }
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
