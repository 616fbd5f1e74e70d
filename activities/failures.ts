import { ApplicationFailure } from '@temporalio/common';
import { TrainingDisrupted, TrainingFailure } from '../executors/executor.js';
import { storageErrno, TRAINING_DISRUPTED } from '../search/errors.js';
import type { Disruption } from '../search/types.js';

/**
 * An executor's typed failure as Temporal reads it: its type names it, and `nonRetryable` stops the retries.
 * Every activity that calls an executor (train, and plan's preflight) throws what comes out of it through here. A
 * disruption says what the attempt had trained since its last checkpoint (`recomputedSeconds`).
 */
export function activityFailure(err: unknown, recomputedSeconds = 0): unknown {
  if (err instanceof TrainingDisrupted) {
    // Not retried by Temporal (an attempt would be counted): the workflow launches the training again.
    const disruption: Disruption = { cause: err.type, recomputedSeconds };
    return ApplicationFailure.create({
      type: TRAINING_DISRUPTED,
      message: `${err.type}: ${err.message}`,
      nonRetryable: true,
      details: [{ ...err.details, ...disruption }],
    });
  }
  if (!(err instanceof TrainingFailure)) return err;
  const details = Object.keys(err.details).length ? [err.details] : undefined;
  return ApplicationFailure.create({ type: err.type, message: err.message, nonRetryable: !err.retryable, details });
}

/**
 * A training's own files (its spec, the runs log) on a full or failing disk: the storage's failure, not the
 * candidate's, so the training is disrupted and launched again once the operator has freed space.
 */
export function storageDisruption(err: unknown): unknown {
  const errno = err instanceof TrainingFailure ? undefined : storageErrno(err);
  return errno ? new TrainingDisrupted('StorageFailed', `${errno}: ${String(err)}`) : err;
}
