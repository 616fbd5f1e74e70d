import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Execution, SearchSpec } from '../schemas/search.js';
import { searchOfWorkflow } from '../search/ids.js';
import type { SearchResult } from '../search/state.js';
import type { Executor } from '../executors/executor.js';
import { readChunk, writeOutcomes } from '../store/candidate-table.js';
import { ExecutorPool } from '../executors/index.js';
import { ablationArms } from './ablation.js';
import { scaleFamily } from './family.js';
import { plan, recordSpec } from './plan.js';
import { recordSummary, registerModel } from './register.js';
import { searchDirOf, readSummary } from '../store/search-dir.js';
import { selectCandidate } from './select.js';
import { trainCandidateActivity } from './train.js';
import { ridingStorage } from './storage.js';
import type {
  AblationInput,
  ChunkRef,
  PlanInput,
  RecordChunkInput,
  RegisterInput,
  ScaleInput,
} from '../search/types.js';

export interface ActivityOptions {
  /**
   * The worker's state directory: every search lives in `<stateDir>/searches/<searchId>` (the shared artifacts
   * volume on a cluster). Workflow inputs carry only the search id, never a client's path.
   */
  stateDir: string;
  /** Which executor trains a candidate; default: this worker's pool, by the search spec's `execution`. */
  executorFor?: (execution: Execution) => Executor;
  /** Benchmarks only: false trains every grid point, even those whose rounded architectures are identical. */
  dedup?: boolean;
}

/** The search workflow's activities: every side effect of a search. */
export function createActivities(options: ActivityOptions) {
  const dirOf = (searchId: string) => searchDirOf(options.stateDir, ownSearch(searchId));
  const executorFor = options.executorFor ?? new ExecutorPool().for;
  return {
    plan: ridingStorage((input: PlanInput) => plan(dirOf(input.searchId), input, executorFor, options.dedup ?? true)),
    loadChunk: ridingStorage((input: ChunkRef) => readChunk(dirOf(input.searchId), input.chunk)),
    recordChunk: ridingStorage((input: RecordChunkInput) =>
      writeOutcomes(dirOf(input.searchId), input.chunk, input.records),
    ),
    // A training on a full disk is a disruption, launched again by its workflow (activities/failures.ts).
    trainCandidate: trainCandidateActivity(dirOf, executorFor),
    selectCandidate: ridingStorage((input: { searchId: string }) => selectCandidate(dirOf(input.searchId))),
    scaleFamily: ridingStorage((input: ScaleInput) => scaleFamily(dirOf(input.searchId), input)),
    ablationArms: ridingStorage((input: AblationInput) => ablationArms(dirOf(input.searchId), input)),
    registerModel: ridingStorage((input: RegisterInput) => registerModel(dirOf(input.searchId), input)),
    recordSummary: ridingStorage((input: { searchId: string; result: SearchResult }) =>
      recordSummary(dirOf(input.searchId), input.result),
    ),
    previousRun: ridingStorage((input: PreviousRunInput) => previousRun(dirOf(input.searchId), input)),
  };
}
export type SearchActivities = ReturnType<typeof createActivities>;

export interface PreviousRunInput {
  searchId: string;
  /** The spec a client resumes the search with: its execution settings may differ from the last run's. */
  spec?: SearchSpec;
}

/** The state the last run recorded, from which a resumed search goes on; the resuming client's spec is recorded. */
async function previousRun(searchDir: string, input: PreviousRunInput): Promise<SearchResult | undefined> {
  if (input.spec) await recordSpec(searchDir, input.searchId, input.spec);
  return readSummary(searchDir);
}

/**
 * Workflow input is not trusted: a workflow started by hand (`temporal workflow start`) could name another search,
 * or a path, as its searchId. An activity works only on the search of the workflow that called it.
 */
function ownSearch(searchId: string): string {
  const caller = Context.current().info.workflowExecution?.workflowId ?? '(none)';
  if (searchOfWorkflow(caller) !== searchId)
    throw ApplicationFailure.nonRetryable(
      `searchId '${searchId}': workflow ${caller} may only work on its own search ('${searchOfWorkflow(caller)}')`,
      'SpecError',
    );
  return searchId;
}
