/**
 * The error types activities and workflows agree on (an activity throws them as ApplicationFailure types).
 * No imports: activity code reads this file without loading workflow code.
 */

/**
 * The trainer is older than the candidate it was given (its image is of an earlier release than the worker): the
 * search stops at once, nothing counted against the candidate or the failure budget, and resumes once the trainer
 * image is the worker's release.
 */
export const TRAINER_TOO_OLD = 'TrainerTooOld';

/** The storage failed, not the training: full (ENOSPC, EDQUOT), read-only (EROFS) or failing (EIO). */
export const STORAGE_ERRNOS: readonly string[] = ['ENOSPC', 'EDQUOT', 'EROFS', 'EIO'];

/** A Node.js file-system error (or one it caused) of the storage itself. */
export function storageErrno(err: unknown): string | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && STORAGE_ERRNOS.includes(code)) return code;
  }
  return undefined;
}

/** Input no retry can fix. */
export const NON_RETRYABLE_ERRORS = ['BadCandidateInput', 'SpecError'];

/**
 * A training ended through no fault of its own: its node was lost, it was preempted, evicted (a drain, a taint) or
 * its pod deleted by someone else. Trained again from its checkpoint, without limit in count; never a failure.
 */
export const TRAINING_DISRUPTED = 'TrainingDisrupted';

/** A training stopped because its worker shut down (or died): trained again later, never a failure. */
export const TRAINING_INTERRUPTED = 'TrainingInterrupted';
