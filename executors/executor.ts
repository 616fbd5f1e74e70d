import type { CandidateSpec, TrainProgress, TrainResult } from '../schemas/candidate.js';
import { TRAINER_TOO_OLD } from '../search/errors.js';

/**
 * Where a candidate trains. `local` runs the trainer entry point as a child process; `kubernetes` runs it as a
 * pod. The workflow never knows which: activities call `executor.train` and get a `TrainResult` back. A worker
 * keeps one executor per execution setting for its whole life (`ExecutorPool`, executors/index.ts).
 */
export interface TrainingJob {
  searchId: string;
  /** Deterministic within the search: a retried activity must find the same process output / pod. */
  candidateId: string;
  spec: CandidateSpec;
  /** Artifacts directory for this candidate (checkpoints, model, result.json); shared storage on a cluster. */
  outDir: string;
  /** Workflow id and coefficients, for labels/annotations and logs. */
  labels: Record<string, string>;
  /** The trainer also checkpoints mid-epoch this often (execution.checkpointMinutes). */
  checkpointSeconds?: number;
}

export interface TrainingHooks {
  /** Called for every progress line of the trainer; activities turn it into a heartbeat. */
  onProgress(progress: TrainProgress): void;
  /** Aborted when the activity is cancelled: the executor must stop the training (and delete pods). */
  signal: AbortSignal;
  /** Called once the training process or pod exists. */
  onLaunch?(info: LaunchInfo): void;
}

export interface Executor {
  readonly kind: 'local' | 'kubernetes';
  /** How often the training activity heartbeats its latest progress: the one heartbeat source. */
  readonly heartbeatSeconds: number;
  train(job: TrainingJob, hooks: TrainingHooks): Promise<TrainResult>;
  /** Checks, before any candidate starts, that trainings can be launched for this search (e.g. a pod template). */
  preflight?(searchId: string, searchDir: string): Promise<void>;
  /**
   * Called when a candidate's result is reused from result.json: whatever produced it (a pod that succeeded while
   * its worker was dead) is no longer needed and goes by the executor's cleanup policy.
   */
  release?(searchId: string, candidateId: string): Promise<void>;
  /** Periodic housekeeping of the worker's executor pool (e.g. failed pods past their keep time). */
  sweep?(): Promise<void>;
}

/**
 * A training that ended without a result, typed (`PodDeleted`, `OOMKilled`, …: docs/kubernetes.md) and saying
 * whether a retry can help. Executors throw it and know nothing of Temporal; the training activity turns it into
 * the activity failure the workflow's retry policy reads.
 */
export class TrainingFailure extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly retryable: boolean,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = type;
  }
}

/** The trainer rejected its input (exit code 2): retrying cannot help, the candidate is recorded as failed. */
export class CandidateInputError extends TrainingFailure {
  constructor(message: string) {
    super('BadCandidateInput', message, false);
  }
}

/** The training ended through no fault of its own (search/errors.ts, TRAINING_DISRUPTED): trained again. */
export class TrainingDisrupted extends TrainingFailure {
  constructor(type: string, message: string, details: Record<string, unknown> = {}) {
    super(type, message, true, details);
  }
}

/** The trainer refused a candidate of a newer contract (exit code 3): no attempt of this trainer can train it. */
export class TrainerTooOldError extends TrainingFailure {
  constructor(message: string) {
    super(TRAINER_TOO_OLD, message, false);
  }
}

/** Where a launched training runs, for the launch record (`runs.jsonl`) and orphan checks. */
export interface LaunchInfo {
  pid?: number;
  pod?: string;
}
