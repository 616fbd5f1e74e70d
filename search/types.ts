import type { Coefficients } from '../scaling/scale.js';
import type { SearchSpec } from '../schemas/search.js';

/**
 * What crosses the Temporal boundary between the search workflow and its activities. Everything here is small:
 * architectures and models stay in the search directory and travel as URIs (absolute paths on shared storage).
 * Inputs name the search by id: each worker resolves its directory under its own state directory.
 */

/** A grid extension requested while (or after) a search runs: more grid points and/or more family members. */
export interface SearchExtension {
  alpha?: { min: number; max: number; step: number };
  beta?: { min: number; max: number; step: number };
  gamma?: { min: number; max: number; step: number };
  tolerance?: number;
  random?: { count: number; seed: number };
  phis?: number[];
}

/** A grid point: one row of the candidate table in the search directory (never in a workflow payload). */
export interface PlannedCandidate extends Coefficients {
  /** Position in the search, stable across extensions (new points are numbered after the existing ones). */
  index: number;
  /** Hash of the rounded architecture: grid points with the same group are trained once. */
  group: string;
  macs: number;
  params: number;
  /** Why the point is never launched (breaks the resource limits); absent when it will be trained. */
  excluded?: string;
}

/** One distinct training (a dedup group) as its chunk lists it: the grid point whose coefficients it trains. */
export interface PlannedTraining extends Coefficients {
  group: string;
  /** The representative grid point. */
  index: number;
  macs: number;
  /** Absent in tables planned before it was recorded. */
  params?: number;
}

export interface PlanInput {
  searchId: string;
  /** The validated spec, on a run's first plan: written to the search directory; absent: read from there. */
  spec?: SearchSpec;
  extension?: SearchExtension;
  /** 0 for the search's grid, then 1, 2, … for each extension: a retried plan returns what it planned before. */
  planId: number;
}

/** What a plan added to the candidate table: counts and the chunks of new trainings, never the rows. */
export interface PlanOutput {
  points: number;
  excluded: number;
  trainings: number;
  /** The new trainings are chunks `firstChunk` … `firstChunk + chunks - 1`. */
  firstChunk: number;
  chunks: number;
  /** The work the new trainings are expected to take: epochs × multiply-adds per image, summed. */
  work: number;
  /** Images one epoch runs, validation included, with a training step counted as 3 (forward and backward). */
  imagesPerEpoch: number;
  /** Set when no grid point satisfies the constraint: says why. */
  emptyReason?: string;
}

export type TrainingState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** A training's outcome as its chunk records it. */
export interface TrainingRecord {
  state: TrainingState;
  /** The rung the state is about: finished (succeeded), training to (running), next to train to (pending). */
  rung?: number;
  /** The score at each finished rung (successive halving), the mean over its seeds; `score` is the last of them. */
  scores?: number[];
  score?: number;
  /** With `task.repeats` > 1: each seed's score at the last finished rung (their mean is `score`). */
  samples?: number[];
  /** Device-seconds spent on it, over all its rungs and attempts seen by the workflow. */
  seconds?: number;
  /** Attempts ended by disruptions (node loss, preemption, eviction, deletion) and the time they recomputed. */
  disruptions?: Disruptions;
  error?: string;
}

/**
 * Disruptions of trainings, and the device-seconds they cost: what each disrupted attempt had trained since its
 * last checkpoint, trained again by the next attempt.
 */
export interface Disruptions {
  count: number;
  recomputedSeconds: number;
}

/** What a disrupted attempt tells the workflow (the activity failure's details). */
export interface Disruption {
  /** The executor's failure type: NodeLost, PodDeleted. */
  cause: string;
  recomputedSeconds: number;
}

export interface ChunkRef {
  searchId: string;
  chunk: number;
}

export interface LoadedChunk {
  trainings: PlannedTraining[];
  /** What earlier runs of this chunk recorded, by group: finished trainings are never launched again. */
  recorded: Record<string, TrainingRecord>;
}

export interface RecordChunkInput extends ChunkRef {
  records: Record<string, TrainingRecord>;
}

export interface TrainInput {
  searchId: string;
  /** The group (and `-r<k>` per extra seed) for search candidates, finalCandidateId / ablationCandidateId for the finals: names the output directory. */
  candidateId: string;
  /** A family member's architecture; absent for a search candidate, whose architecture is scaled from `coefficients`. */
  architectureUri?: string;
  /** A search candidate's α, β, γ (its group's representative grid point). */
  coefficients?: Coefficients;
  budget: 'search' | 'final';
  /** Stop after this many epochs (a rung of successive halving); absent: the whole schedule. */
  epochs?: number;
  /** Which of the candidate's seeds (`task.repeats`): it trains with training.seed + repeat. Absent: 0. */
  repeat?: number;
  labels: Record<string, string>;
}

export interface TrainOutcome {
  candidateId: string;
  score: number;
  macs: number;
  seconds: number;
  modelUri: string;
  resumedFromEpoch: number;
  /** Epochs trained so far (over every rung). */
  epochs: number;
  /** True when result.json already existed: nothing was launched. */
  reused: boolean;
  /** Milliseconds per image at batch 1, measured by the trainer (absent in results of older trainers). */
  latencyMs?: number;
}

export interface FamilyMember {
  name: string;
  phi: number;
  /** Which request produced it: a φ, a multiplier N, or the resource limits. */
  source: string;
  factors: { depth: number; width: number; resolution: number };
  /** 2^φ of the request: the multiple of the baseline's compute the member stands for. */
  target: number;
  /** Its rounded architecture's real multiply-adds over the baseline's. */
  multiplier: number;
  /** Set when the real multiplier is further from the target than the grid's tolerance. */
  costWarning?: string;
  macs: number;
  params: number;
  paramBytes: number;
  peakActivationBytes: number;
  resolution: number;
  architectureUri: string;
}

/** One arm of the compound-vs-single-dimension ablation (`final.ablation`). */
export interface AblationArm {
  /** `baseline`, `depth-only`, `width-only` or `resolution-only`. */
  name: string;
  factors: { depth: number; width: number; resolution: number };
  macs: number;
  params: number;
  /** Its real multiply-adds over the baseline's. */
  multiplier: number;
  resolution: number;
  architectureUri: string;
}

export interface AblationInput {
  searchId: string;
  /** The compound member the arms are compared with: they are scaled to its real multiply-adds. */
  member: FamilyMember;
}

export interface ScaleInput {
  searchId: string;
  best: Coefficients;
  extraPhis: number[];
}

export interface RegisterInput {
  searchId: string;
  specHash: string;
  best: Coefficients & { score: number };
  member: FamilyMember;
  outcome: TrainOutcome;
}

export interface RegisteredModel {
  name: string;
  version: string;
  uri: string;
  member: string;
}

/** A scored candidate as the search ranks it and carries it (leaders, the chosen one). */
export interface BestCandidate extends Coefficients {
  /** The score at `rung`, the last rung it finished. */
  score: number;
  /** Successive halving: a candidate that survived more rungs ranks first (absent: 0). */
  rung?: number;
  /** With `task.repeats` > 1: each seed's score at `rung`; `score` is their mean. */
  samples?: number[];
  macs: number;
  /** The grid point (its group's representative). */
  index: number;
  group: string;
}

/** What a heartbeat carries: the latest progress, readable in the Temporal UI and by `effscale search`'s output. */
export interface TrainingHeartbeat {
  candidateId: string;
  epoch?: number;
  epochs?: number;
  batch?: number;
  batches?: number;
  loss?: number;
  imagesPerSecond?: number;
  valAccuracy?: number;
  done?: boolean;
}
