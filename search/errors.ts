/**
 * The error types activities and workflows agree on (an activity throws them as ApplicationFailure types).
 * No imports: activity code reads this file without loading workflow code.
 */

/** Input no retry can fix. */
export const NON_RETRYABLE_ERRORS = ['BadCandidateInput', 'SpecError'];

/** A training stopped because its worker shut down (or died): trained again later, never a failure. */
export const TRAINING_INTERRUPTED = 'TrainingInterrupted';
