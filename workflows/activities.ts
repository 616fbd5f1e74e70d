import { ActivityCancellationType, ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import { NON_RETRYABLE_ERRORS, TRAINER_TOO_OLD, TRAINING_DISRUPTED, TRAINING_INTERRUPTED } from '../search/errors.js';
import type { SearchActivities } from '../activities/index.js';
import type { Disruption, TrainInput, TrainOutcome } from '../search/types.js';
import type { SearchOptions } from '../search/state.js';

/** The short activities (plan, load a chunk, scale, register, record). */
export function bookkeeping() {
  return proxyActivities<SearchActivities>({
    startToCloseTimeout: '10m',
    retry: { maximumAttempts: 5, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE_ERRORS },
  });
}

export type TrainingOptions = Pick<SearchOptions, 'maxAttempts' | 'heartbeatTimeout' | 'candidateTimeout'>;

/** Trainings: long, heartbeating, retried per the spec, and only over once the training process is gone. */
export function trainings(o: TrainingOptions) {
  return proxyActivities<SearchActivities>({
    startToCloseTimeout: o.candidateTimeout,
    heartbeatTimeout: o.heartbeatTimeout,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      maximumAttempts: o.maxAttempts,
      initialInterval: '1s',
      backoffCoefficient: 2,
      nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
    },
  });
}

/**
 * A training with its one-line summary, which the Temporal UI shows on the activity's timeline bar ("search
 * α=1.1 β=1 γ=1.3 rung 2/3, to epoch 3", "final φ=2"): an auditor sees what each bar trained without opening it.
 */
export function train(acts: ReturnType<typeof trainings>, input: TrainInput, summary: string): Promise<TrainOutcome> {
  return acts.trainCandidate.executeWithOptions({ summary }, [input]);
}

/** What an activity threw, not "Activity task failed". */
export function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** The training's worker went away (shut down, or its session died): train it again, it is not a failure. */
export function isInterruption(err: unknown): boolean {
  return (
    err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === TRAINING_INTERRUPTED
  );
}

/** A disruption (node loss, preemption, eviction): what it cost; undefined for any other failure. */
export function disruptionOf(err: unknown): Disruption | undefined {
  if (failureType(err) !== TRAINING_DISRUPTED) return undefined;
  const inner = err instanceof ActivityFailure ? err.cause : err;
  const details = (inner instanceof ApplicationFailure ? inner.details?.[0] : undefined) as
    Partial<Disruption> | undefined;
  return { cause: details?.cause ?? 'disrupted', recomputedSeconds: details?.recomputedSeconds ?? 0 };
}

/** The trainer cannot read the candidate (its image is older than the worker): stop, count nothing. */
export function isTrainerTooOld(err: unknown): boolean {
  return failureType(err) === TRAINER_TOO_OLD;
}

/** The error type a failure carries, seen through an activity's wrapper: kept when the search fails with it. */
export function failureType(err: unknown): string | undefined {
  const inner = err instanceof ActivityFailure ? err.cause : err;
  return inner instanceof ApplicationFailure ? (inner.type ?? undefined) : undefined;
}
