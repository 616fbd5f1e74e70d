import type {
  Coefficients,
  FamilyMember,
  RegisteredModel,
  SearchExtension,
  TrainingState,
} from '../activities/types.js';
import type { SearchSpec } from '../spec/search.js';

/**
 * The search's durable state: counts, chunk summaries and the few best candidates, never a row per grid point
 * (the candidate table lives in the worker's store), so it stays small at any grid size.
 */

export type Stage = 'plan' | 'search' | 'select' | 'scale' | 'final' | 'register' | 'done' | 'cancelled' | 'failed';

export type { TrainingState };

/** Trainings (dedup groups) by state. */
export type StateCounts = Record<TrainingState, number>;

export interface BestCandidate extends Coefficients {
  score: number;
  macs: number;
  /** The grid point (its group's representative). */
  index: number;
  group: string;
}

/** Training time seen so far, for the time-left estimate. */
export interface Seconds {
  sum: number;
  count: number;
}

/** What a chunk workflow reports when it closes; its per-training records stay in the store. */
export interface ChunkSummary {
  counts: StateCounts;
  seconds: Seconds;
  leaders: BestCandidate[];
  /** A few failure messages (the store has all of them). */
  errors: string[];
  /** The chunk stopped launching because the search's failure budget ran out. */
  overBudget: boolean;
}

export interface ChunkRecord {
  state: 'pending' | 'done';
  counts?: StateCounts;
  seconds?: Seconds;
}

export interface FinalRecord {
  member: string;
  state: TrainingState;
  score?: number;
  error?: string;
  modelUri?: string;
}

export interface SearchState {
  stage: Stage;
  /** Plans made so far (the grid, then each extension): the next plan's id. */
  plans: number;
  /** Grid points, those excluded by the resource limits, and distinct trainings, over all plans. */
  points: number;
  excluded: number;
  trainings: number;
  chunks: ChunkRecord[];
  /** The best few candidates, best first. */
  leaders: BestCandidate[];
  /** The first few failure messages. */
  errors: string[];
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

export interface SearchProgress {
  stage: Stage;
  /** How scores compare (loss-type metrics are minimized). */
  higherIsBetter: boolean;
  paused: boolean;
  parallelism: number;
  points: { total: number; excluded: number };
  trainings: StateCounts;
  seconds: Seconds;
  best: BestCandidate | null;
  etaSeconds: number | null;
  runs: number;
  chunks: { total: number; done: number };
  /** The workflow id of the chunk training now; its own progress query has its live counts. */
  activeChunk: string | null;
}

/** A chunk workflow's live progress. */
export interface ChunkProgress {
  trainings: StateCounts;
  best: BestCandidate | null;
  seconds: Seconds;
}

export interface SearchResult {
  searchId: string;
  name: string;
  specHash: string;
  status: 'completed' | 'cancelled' | 'failed';
  best: BestCandidate | null;
  state: SearchState;
}

export const LEADERS = 10;
const ERRORS = 5;

export function initialState(parallelism: number): SearchState {
  return {
    stage: 'plan',
    plans: 0,
    points: 0,
    excluded: 0,
    trainings: 0,
    chunks: [],
    leaders: [],
    errors: [],
    extraPhis: [],
    parallelism,
    paused: false,
    runs: 1,
    family: [],
    finals: [],
    registered: [],
  };
}

/** A new run from a closed run's record: finished chunks are kept; the chunk workflows keep finished trainings. */
export function resumedState(previous: SearchState): SearchState {
  const stage = previous.plans === 0 ? 'plan' : 'search';
  return { ...previous, stage, family: [], finals: [], registered: [], runs: previous.runs + 1 };
}

export function emptyCounts(): StateCounts {
  return { pending: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
}

export function addCounts(a: StateCounts, b: StateCounts): StateCounts {
  const sum = emptyCounts();
  for (const k of Object.keys(sum) as TrainingState[]) sum[k] = a[k] + b[k];
  return sum;
}

/** Best score wins; ties go to the cheaper candidate (fewer multiply-adds), then the earlier grid point. */
export function ranksBefore(a: BestCandidate, b: BestCandidate, higherIsBetter: boolean): boolean {
  if (a.score !== b.score) return higherIsBetter ? a.score > b.score : a.score < b.score;
  return a.macs < b.macs || (a.macs === b.macs && a.index < b.index);
}

/** The best `LEADERS` of both lists, best first. */
export function mergeLeaders(a: BestCandidate[], b: BestCandidate[], higherIsBetter: boolean): BestCandidate[] {
  const seen = new Set<string>();
  return [...a, ...b]
    .filter((c) => !seen.has(c.group) && seen.add(c.group))
    .sort((x, y) => (ranksBefore(x, y, higherIsBetter) ? -1 : ranksBefore(y, x, higherIsBetter) ? 1 : 0))
    .slice(0, LEADERS);
}

export function keepErrors(errors: string[], more: string[]): string[] {
  return [...errors, ...more].slice(0, ERRORS);
}

/** The search's progress from its own state: the chunk training now counts as pending until it closes. */
export function progressOf(state: SearchState, higherIsBetter: boolean, activeChunk: string | null): SearchProgress {
  let trainings = emptyCounts();
  const seconds: Seconds = { sum: 0, count: 0 };
  for (const c of state.chunks) {
    if (c.counts) trainings = addCounts(trainings, c.counts);
    seconds.sum += c.seconds?.sum ?? 0;
    seconds.count += c.seconds?.count ?? 0;
  }
  trainings.pending += Math.max(0, state.trainings - total(trainings));
  return {
    stage: state.stage,
    higherIsBetter,
    paused: state.paused,
    parallelism: state.parallelism,
    points: { total: state.points, excluded: state.excluded },
    trainings,
    seconds,
    best: state.leaders[0] ?? null,
    etaSeconds: eta(trainings, seconds, state.parallelism),
    runs: state.runs,
    chunks: { total: state.chunks.length, done: state.chunks.filter((c) => c.state === 'done').length },
    activeChunk,
  };
}

/** Adds the live counts of the chunk training now (its own query) to the search's progress. */
export function withChunkProgress(p: SearchProgress, live: ChunkProgress): SearchProgress {
  const trainings = addCounts(p.trainings, live.trainings);
  trainings.pending = Math.max(0, trainings.pending - total(live.trainings));
  const seconds = { sum: p.seconds.sum + live.seconds.sum, count: p.seconds.count + live.seconds.count };
  const best = mergeLeaders(p.best ? [p.best] : [], live.best ? [live.best] : [], p.higherIsBetter)[0] ?? null;
  return { ...p, trainings, seconds, best, etaSeconds: eta(trainings, seconds, p.parallelism) };
}

function total(counts: StateCounts): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

function eta(trainings: StateCounts, seconds: Seconds, parallelism: number): number | null {
  if (!seconds.count) return null;
  const left = trainings.pending + trainings.running;
  return Math.round(((seconds.sum / seconds.count) * left) / Math.max(1, parallelism));
}
