import type {
  AblationArm,
  BestCandidate,
  Disruptions,
  FamilyMember,
  RegisteredModel,
  SearchExtension,
  PlannedTraining,
  TrainingRecord,
  TrainingState,
} from './types.js';
import type { SearchSpec } from '../schemas/search.js';
import { addRungCounts, type RungCounts } from './halving.js';
import type { CostLimits } from './limits.js';
import { mergeLeaders } from './ranking.js';
import { sumDisruptions } from './disruptions.js';
import { STATE_VERSION } from './state-version.js';

/**
 * The search's durable state: counts, chunk summaries and the few best candidates, never a row per grid point
 * (the candidate table lives in the worker's store), so it stays small at any grid size.
 */

export type Stage = 'plan' | 'search' | 'select' | 'scale' | 'final' | 'register' | 'done' | 'cancelled' | 'failed';

/** Trainings (dedup groups) by state. */
export type StateCounts = Record<TrainingState, number>;

/**
 * What trainings have cost so far: device-seconds (one device per training, stopped and failed attempts
 * included) and work, the epochs trained × multiply-adds per image. Their ratio calibrates every estimate.
 */
export interface Spend {
  seconds: number;
  work: number;
}

/** What a chunk workflow reports when it closes; its per-training records stay in the store. */
export interface ChunkSummary {
  counts: StateCounts;
  spend: Spend;
  rungs: RungCounts[];
  leaders: BestCandidate[];
  /** A few failure messages (the store has all of them). */
  errors: string[];
  /** The chunk stopped launching because the search's failure budget ran out. */
  overBudget: boolean;
  /** The compute budget ran out: the chunk stopped its trainings and launched no more. */
  budgetReached: boolean;
  /** The search is moving to another version: the chunk stopped its trainings and is still to finish. */
  handedOff?: boolean;
  /** The trainer refused a candidate as too new (TRAINER_TOO_OLD): the chunk stopped, nothing counted as failed. */
  refused?: string;
  /** Absent in chunks of searches started before disruptions were counted. */
  disruptions?: Disruptions;
}

export interface ChunkRecord {
  state: 'pending' | 'done';
  counts?: StateCounts;
  spend?: Spend;
  rungs?: RungCounts[];
  disruptions?: Disruptions;
}

export interface FinalRecord {
  member: string;
  state: TrainingState;
  score?: number;
  error?: string;
  modelUri?: string;
}

/** What the select step decided, and how sure it can be (selectFrom, search/selection.ts). */
export interface SelectionOutcome {
  rule: 'max' | 'max-under' | 'pareto';
  chosen: BestCandidate | null;
  /** Trained candidates the rule allowed, and those over its limits. */
  eligible: number;
  ineligible: number;
  /** The winner's lead over the runner-up at the same rung; null with a single candidate. */
  margin: number | null;
  /** Whether that lead is within the noise (Welch, 95 %); null when the noise is unknown (task.repeats 1). */
  withinNoise: boolean | null;
  /** Candidates statistically tied with the winner, best first (at most 20); null when the noise is unknown. */
  tied: BestCandidate[] | null;
  /** Grid indexes of the Pareto set of score against multiply-adds, cheapest first (at most 20). */
  pareto: number[];
  /** max-under found no candidate within its limits: what they were and the least each candidate reached. */
  refusal?: string;
}

/** An ablation arm as the finals trained it. */
export interface AblationRecord extends AblationArm {
  state: TrainingState;
  score?: number;
  error?: string;
}

export interface SearchState {
  /** The format (search/state-version.ts): an earlier release's state is migrated when read. */
  stateVersion: number;
  /** The builds (worker/release.ts) this search's runs ran on, oldest first: the last is the one it runs on. */
  builds: string[];
  stage: Stage;
  /** Plans made so far (the grid, then each extension): the next plan's id. */
  plans: number;
  /** Grid points, those excluded by the resource limits, and distinct trainings, over all plans. */
  points: number;
  excluded: number;
  trainings: number;
  /** The work the planned trainings are expected to take (see Spend), and the images of one epoch. */
  work: number;
  imagesPerEpoch: number;
  /** Workflow time (ms) the search started: the wall-time budget counts from here. */
  startedAt: number;
  /** Set when the compute budget ended the grid search early. */
  stoppedBy?: 'budget';
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
  /** Set by the select step (absent in searches started before it existed, which chose `leaders[0]`). */
  selection?: SelectionOutcome;
  /** `final.ablation`: the arms compared with the largest finalist. */
  ablation?: AblationRecord[];
  /** Disruptions of the finalists' and ablation arms' trainings (the grid's are in its chunks). */
  finalDisruptions?: Disruptions;
  /** Did compound scaling beat the single-dimension arms (search/ablation.ts)? */
  ablationVerdict?: string;
  registered: RegisteredModel[];
}

/** What the workflows need of the spec (search/run.ts derives it); the spec itself stays in the store. */
export interface RunOptions {
  /** Loss-type metrics are minimized. */
  higherIsBetter: boolean;
  parallelism: number;
  maxAttempts: number;
  failureBudget: number;
  heartbeatTimeout: string;
  candidateTimeout: string;
  continueAsNewAfter: number;
  finalists: number;
  /** Epochs of each rung: one rung unless the grid's strategy is halving, which keeps the best 1/η per rung. */
  rungs: number[];
  eta: number;
  /** Seeds per candidate (`task.repeats`); absent in searches started before repeats existed: 1. */
  repeats?: number;
  /** Selection max-under's multiply-add and parameter limits: halving promotes no candidate over them. */
  costLimits?: CostLimits;
  /** `final.ablation`: train the baseline and single-dimension scalings next to the largest finalist. */
  ablation?: boolean;
  /** The grid search's compute budget (execution.budget), in device-seconds and seconds of wall time. */
  budget: Budget | null;
}

/** A search's identity and run options: what its workflows carry from run to run. */
export interface SearchOptions extends RunOptions {
  searchId: string;
  name: string;
  specHash: string;
}

export interface Budget {
  deviceSeconds?: number;
  wallSeconds?: number;
}

export interface SearchInput {
  options: SearchOptions;
  /**
   * The validated spec (a few KB, no secrets), given when a client starts or resumes the search: the next plan
   * writes it into the search directory, which each worker resolves from the search id under its own state
   * directory. Continued runs do not carry it; later plans read it from the store.
   */
  spec?: SearchSpec;
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
  rungs: RungCounts[];
  spend: Spend;
  /** Wall seconds since the search started. */
  wallSeconds: number;
  /** Device-seconds the planned trainings are estimated to take still (measured speed × work left). */
  toFinishSeconds: number | null;
  budget: Budget | null;
  stoppedBy: 'budget' | null;
  /** The work planned (expected under halving): see Spend. */
  plannedWork: number;
  best: BestCandidate | null;
  etaSeconds: number | null;
  runs: number;
  chunks: { total: number; done: number };
  /** The workflow id of the chunk training now; its own progress query has its live counts. */
  activeChunk: string | null;
  /** Trainings disrupted (node loss, preemption, eviction) and trained again: never counted as failures. */
  disruptions: Disruptions;
}

/** One training as its chunk knows it: the representative grid point and its record. */
export type ChunkCandidate = PlannedTraining & TrainingRecord;

/** A chunk workflow's live progress. */
export interface ChunkProgress {
  trainings: StateCounts;
  rungs: RungCounts[];
  best: BestCandidate | null;
  spend: Spend;
  disruptions: Disruptions;
}

export interface SearchResult {
  searchId: string;
  name: string;
  specHash: string;
  status: 'completed' | 'cancelled' | 'failed';
  best: BestCandidate | null;
  /** What the grid's trainings cost (finals excluded). */
  spend: Spend;
  state: SearchState;
}

const ERRORS = 5;

export function initialState(parallelism: number, startedAt: number): SearchState {
  return {
    stateVersion: STATE_VERSION,
    builds: [],
    stage: 'plan',
    plans: 0,
    points: 0,
    excluded: 0,
    trainings: 0,
    work: 0,
    imagesPerEpoch: 0,
    startedAt,
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

/**
 * A new run from a closed run's record: finished chunks are kept; the chunk workflows keep finished trainings.
 * The wall-time budget counts again from the resume.
 */
export function resumedState(previous: SearchState, now: number): SearchState {
  const stage = previous.plans === 0 ? 'plan' : 'search';
  const { stoppedBy: _, selection: _s, ablation: _a, ablationVerdict: _v, ...kept } = previous;
  return { ...kept, stage, startedAt: now, family: [], finals: [], registered: [], runs: previous.runs + 1 };
}

export function emptyCounts(): StateCounts {
  return { pending: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
}

export function addCounts(a: StateCounts, b: StateCounts): StateCounts {
  const sum = emptyCounts();
  for (const k of Object.keys(sum) as TrainingState[]) sum[k] = a[k] + b[k];
  return sum;
}

export function keepErrors(errors: string[], more: string[]): string[] {
  return [...errors, ...more].slice(0, ERRORS);
}

export function addSpend(a: Spend, b: Spend): Spend {
  return { seconds: a.seconds + b.seconds, work: a.work + b.work };
}

/** The search's progress from its own state: the chunk training now counts as pending until it closes. */
export function progressOf(
  state: SearchState,
  o: Pick<SearchOptions, 'higherIsBetter' | 'budget'>,
  activeChunk: string | null,
  now: number,
): SearchProgress {
  let trainings = emptyCounts();
  let spend: Spend = { seconds: 0, work: 0 };
  let rungs: RungCounts[] = [];
  for (const c of state.chunks) {
    if (c.counts) trainings = addCounts(trainings, c.counts);
    if (c.spend) spend = addSpend(spend, c.spend);
    if (c.rungs) rungs = addRungCounts(rungs, c.rungs);
  }
  trainings.pending += Math.max(0, state.trainings - total(trainings));
  return withEstimates({
    stage: state.stage,
    higherIsBetter: o.higherIsBetter,
    paused: state.paused,
    parallelism: state.parallelism,
    points: { total: state.points, excluded: state.excluded },
    trainings,
    rungs,
    spend,
    wallSeconds: Math.max(0, (now - state.startedAt) / 1000),
    toFinishSeconds: null,
    budget: o.budget,
    stoppedBy: state.stoppedBy ?? null,
    plannedWork: state.work,
    best: state.leaders[0] ?? null,
    etaSeconds: null,
    runs: state.runs,
    chunks: { total: state.chunks.length, done: state.chunks.filter((c) => c.state === 'done').length },
    activeChunk,
    disruptions: disruptionsOf(state),
  });
}

/** The search's disruptions: its finished chunks' and its finals'. */
export function disruptionsOf(state: SearchState): Disruptions {
  return sumDisruptions([...state.chunks.map((c) => c.disruptions), state.finalDisruptions]);
}

/** Adds the live counts of the chunk training now (its own query) to the search's progress. */
export function withChunkProgress(p: SearchProgress, live: ChunkProgress): SearchProgress {
  const trainings = addCounts(p.trainings, live.trainings);
  trainings.pending = Math.max(0, trainings.pending - total(live.trainings));
  const best = mergeLeaders(p.best ? [p.best] : [], live.best ? [live.best] : [], p.higherIsBetter)[0] ?? null;
  return withEstimates({
    ...p,
    trainings,
    rungs: addRungCounts(p.rungs, live.rungs),
    spend: addSpend(p.spend, live.spend),
    best,
    disruptions: sumDisruptions([p.disruptions, live.disruptions]),
  });
}

function total(counts: StateCounts): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** Time left from the measured speed (device-seconds per unit of work) and the planned work not done yet. */
function withEstimates(p: SearchProgress): SearchProgress {
  const { spend } = p;
  if (!spend.work || p.stoppedBy) return { ...p, toFinishSeconds: null, etaSeconds: null };
  const toFinish = Math.max(0, p.plannedWork - spend.work) * (spend.seconds / spend.work);
  return {
    ...p,
    toFinishSeconds: Math.round(toFinish),
    etaSeconds: Math.round(toFinish / Math.max(1, p.parallelism)),
  };
}
