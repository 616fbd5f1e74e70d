import type {
  Coefficients,
  FamilyMember,
  PlannedCandidate,
  RegisteredModel,
  SearchExtension,
} from '../activities/types.js';
import type { SearchSpec } from '../spec/search.js';

/** The search workflow's durable state: compact (ids, coefficients, scores), carried across continue-as-new. */

export type Stage = 'plan' | 'search' | 'select' | 'scale' | 'final' | 'register' | 'done' | 'cancelled' | 'failed';

export type CandidateState = 'pending' | 'running' | 'succeeded' | 'failed' | 'excluded' | 'cancelled';

export interface GroupRecord {
  state: CandidateState;
  score?: number;
  error?: string;
  seconds?: number;
  macs: number;
  /** The grid point whose coefficients the shared training used. */
  representative: number;
}

export interface FinalRecord {
  member: string;
  state: CandidateState;
  score?: number;
  error?: string;
  modelUri?: string;
}

export interface SearchState {
  stage: Stage;
  candidates: PlannedCandidate[];
  groups: Record<string, GroupRecord>;
  extraPhis: number[];
  parallelism: number;
  paused: boolean;
  /** Runs of this search so far (1 + continue-as-new count). */
  runs: number;
  emptyReason?: string;
  family: FamilyMember[];
  finals: FinalRecord[];
  registered: RegisteredModel[];
}

export interface SearchOptions {
  searchId: string;
  name: string;
  specHash: string;
  /**
   * The validated spec (a few KB, no secrets): the first plan writes it into the search directory, which each
   * worker resolves from the search id under its own state directory.
   */
  spec: SearchSpec;
  /** Loss-type metrics are minimized. */
  higherIsBetter: boolean;
  parallelism: number;
  maxAttempts: number;
  failureBudget: number;
  heartbeatTimeout: string;
  candidateTimeout: string;
  continueAsNewAfter: number;
  finalists: number;
}

export interface SearchInput {
  options: SearchOptions;
  carried?: SearchState;
  /** Start from the state the previous run recorded on the worker side (a failed search resumed, or extended). */
  resume?: boolean;
  extensions?: SearchExtension[];
}

export interface BestCandidate extends Coefficients {
  score: number;
  macs: number;
  index: number;
  group: string;
}

export interface StateCounts {
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  excluded: number;
  cancelled: number;
}

export interface SearchProgress {
  stage: Stage;
  paused: boolean;
  parallelism: number;
  counts: StateCounts;
  /** Unique trainings (dedup groups), by state. */
  trainings: StateCounts;
  best: BestCandidate | null;
  etaSeconds: number | null;
  runs: number;
}

export interface SearchResult {
  searchId: string;
  name: string;
  specHash: string;
  status: 'completed' | 'cancelled' | 'failed';
  best: BestCandidate | null;
  state: SearchState;
}

/** A new run from a closed run's record: finished trainings are kept, interrupted ones are trained again. */
export function resumedState(previous: SearchState): SearchState {
  const groups: Record<string, GroupRecord> = {};
  for (const [id, g] of Object.entries(previous.groups))
    groups[id] = g.state === 'cancelled' || g.state === 'running' ? { ...g, state: 'pending' } : g;
  return { ...previous, stage: 'search', groups, family: [], finals: [], registered: [], runs: previous.runs + 1 };
}

export function emptyCounts(): StateCounts {
  return { pending: 0, running: 0, succeeded: 0, failed: 0, excluded: 0, cancelled: 0 };
}

/** The candidate's state is its group's: a duplicate grid point shares the training of its group. */
export function candidateState(state: SearchState, candidate: PlannedCandidate): CandidateState {
  if (candidate.excluded) return 'excluded';
  return state.groups[candidate.group]?.state ?? 'pending';
}

/** Best score wins; ties go to the cheaper candidate (fewer multiply-adds), then the earlier grid point. */
export function selectBest(state: SearchState, higherIsBetter: boolean): BestCandidate | null {
  let best: BestCandidate | null = null;
  for (const c of state.candidates) {
    const group = state.groups[c.group];
    if (c.excluded || group?.state !== 'succeeded' || group.score === undefined) continue;
    const score = group.score;
    const better =
      best === null ||
      (higherIsBetter ? score > best.score : score < best.score) ||
      (score === best.score && (c.macs < best.macs || (c.macs === best.macs && c.index < best.index)));
    if (better)
      best = { alpha: c.alpha, beta: c.beta, gamma: c.gamma, score, macs: c.macs, index: c.index, group: c.group };
  }
  return best;
}

export function progressOf(state: SearchState, higherIsBetter: boolean): SearchProgress {
  const counts = emptyCounts();
  for (const c of state.candidates) counts[candidateState(state, c)]++;
  const trainings = emptyCounts();
  const seconds: number[] = [];
  for (const g of Object.values(state.groups)) {
    trainings[g.state]++;
    if (g.seconds !== undefined) seconds.push(g.seconds);
  }
  const left = trainings.pending + trainings.running;
  const mean = seconds.length ? seconds.reduce((a, b) => a + b, 0) / seconds.length : null;
  return {
    stage: state.stage,
    paused: state.paused,
    parallelism: state.parallelism,
    counts,
    trainings,
    best: selectBest(state, higherIsBetter),
    etaSeconds: mean === null ? null : Math.round((mean * left) / Math.max(1, state.parallelism)),
    runs: state.runs,
  };
}
