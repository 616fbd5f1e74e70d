import type { Execution } from '../spec/search.js';
import type { Executor } from './executor.js';
import { createExecutor } from './executors/index.js';
import { scaleFamily } from './family.js';
import { plan } from './plan.js';
import { recordSummary, registerModel } from './register.js';
import { trainCandidateActivity } from './train.js';

export interface ActivityOptions {
  /** Which executor trains a candidate; default: the one the search spec's `execution` names. */
  executorFor?: (execution: Execution) => Executor;
}

/** The search workflow's activities: every side effect of a search. */
export function createActivities(options: ActivityOptions = {}) {
  return {
    plan,
    trainCandidate: trainCandidateActivity(options.executorFor ?? createExecutor),
    scaleFamily,
    registerModel,
    recordSummary,
  };
}
export type SearchActivities = ReturnType<typeof createActivities>;
