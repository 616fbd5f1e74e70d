import { ActivityCancellationType, ActivityFailure, proxyActivities } from '@temporalio/workflow';
import type { SearchActivities } from '../activities/index.js';
import type { SearchOptions } from './state.js';

/** Error types an activity throws for input no retry can fix. */
export const NON_RETRYABLE_ERRORS = ['BadCandidateInput', 'SpecError'];

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

/** What an activity threw, not "Activity task failed". */
export function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
