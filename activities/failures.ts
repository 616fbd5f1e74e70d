import { ApplicationFailure } from '@temporalio/common';
import { TrainingFailure } from '../executors/executor.js';

/**
 * An executor's typed failure as Temporal reads it: its type names it, and `nonRetryable` stops the retries.
 * Every activity that calls an executor (train, and plan's preflight) throws what comes out of it through here.
 */
export function activityFailure(err: unknown): unknown {
  if (!(err instanceof TrainingFailure)) return err;
  const details = Object.keys(err.details).length ? [err.details] : undefined;
  return ApplicationFailure.create({ type: err.type, message: err.message, nonRetryable: !err.retryable, details });
}
