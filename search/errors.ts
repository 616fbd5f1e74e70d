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

/** Input no retry can fix. */
export const NON_RETRYABLE_ERRORS = ['BadCandidateInput', 'SpecError'];

/**
 * A training ended through no fault of its own: its node was lost, it was preempted, evicted (a drain, a taint) or
 * its pod deleted by someone else. Trained again from its checkpoint, without limit in count; never a failure.
 */
export const TRAINING_DISRUPTED = 'TrainingDisrupted';

/** A training stopped because its worker shut down (or died): trained again later, never a failure. */
export const TRAINING_INTERRUPTED = 'TrainingInterrupted';
