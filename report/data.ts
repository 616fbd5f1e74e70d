import { join } from 'node:path';
import { readJsonIfExists, readSearchSpec } from '../activities/search-dir.js';
import type { FamilyMember } from '../activities/types.js';
import { scalingFactors, type ScalingFactors } from '../scaling/scale.js';
import type { EpochMetrics, TrainResult } from '../spec/candidate.js';
import type { SearchSpec } from '../spec/search.js';
import { candidateState, type CandidateState, type SearchResult } from '../workflows/state.js';

/**
 * Everything the report shows, gathered from a search directory: the recorded search result (`summary.json`),
 * the resolved spec, and the finalists' `result.json` files (their per-epoch metrics). The renderer is pure on
 * this, so it can be tested on any search outcome.
 */

export interface CandidateRow {
  index: number;
  alpha: number;
  beta: number;
  gamma: number;
  /** d', w', r' at the search φ. */
  factors: ScalingFactors;
  macs: number;
  params: number;
  score?: number;
  seconds?: number;
  state: CandidateState;
  /** Dedup group: grid points with the same rounded architecture share one training. */
  group: string;
  /** The grid point whose training this one reuses, when it is not its group's representative. */
  sharesTrainingOf?: number;
  note?: string;
}

export interface FamilyRow extends FamilyMember {
  finalState?: CandidateState;
  finalScore?: number;
  registered?: string;
}

export interface TrainingCurve {
  member: string;
  epochs: EpochMetrics[];
}

export interface ReportData {
  searchId: string;
  name: string;
  status: SearchResult['status'];
  stage: SearchResult['state']['stage'];
  metric: string;
  higherIsBetter: boolean;
  rule: string;
  searchPhi: number;
  dataset: string;
  best: SearchResult['best'];
  candidates: CandidateRow[];
  family: FamilyRow[];
  curves: TrainingCurve[];
  emptyReason?: string;
}

export function reportData(result: SearchResult, spec: SearchSpec, curves: TrainingCurve[]): ReportData {
  const { rule, phi } = spec.scaling.grid;
  const { state } = result;
  const candidates = state.candidates.map((c): CandidateRow => {
    const group = state.groups[c.group];
    const shared = group && group.representative !== c.index;
    return {
      index: c.index,
      alpha: c.alpha,
      beta: c.beta,
      gamma: c.gamma,
      factors: scalingFactors(rule, c, phi),
      macs: c.macs,
      params: c.params,
      state: candidateState(state, c),
      group: c.group,
      ...(group?.score !== undefined && !c.excluded && { score: group.score }),
      ...(group?.seconds !== undefined && !c.excluded && { seconds: group.seconds }),
      ...(shared && !c.excluded && { sharesTrainingOf: group.representative }),
      ...((c.excluded ?? group?.error) !== undefined && { note: c.excluded ?? group?.error }),
    };
  });
  const family = state.family.map((m): FamilyRow => {
    const final = state.finals.find((f) => f.member === m.name);
    const registered = state.registered.find((r) => r.member === m.name);
    return {
      ...m,
      ...(final && { finalState: final.state }),
      ...(final?.score !== undefined && { finalScore: final.score }),
      ...(registered && { registered: `${registered.name}@${registered.version}` }),
    };
  });
  return {
    searchId: result.searchId,
    name: result.name,
    status: result.status,
    stage: state.stage,
    metric: spec.task.metric,
    higherIsBetter: spec.task.metric === 'accuracy',
    rule,
    searchPhi: phi,
    dataset: `${spec.task.dataset.format} (${spec.task.dataset.path})`,
    best: result.best,
    candidates,
    family,
    curves,
    ...(state.emptyReason !== undefined && { emptyReason: state.emptyReason }),
  };
}

/** Reads a finished (or cancelled, or failed) search's directory into report data. */
export async function loadReportData(searchDir: string): Promise<ReportData | undefined> {
  const result = await readJsonIfExists<SearchResult>(join(searchDir, 'summary.json'));
  if (!result) return undefined;
  const spec = await readSearchSpec(searchDir);
  const curves: TrainingCurve[] = [];
  for (const final of result.state.finals) {
    const trained = await readJsonIfExists<TrainResult>(
      join(searchDir, 'final', `final-${final.member}`, 'result.json'),
    );
    if (trained?.epochs.length) curves.push({ member: final.member, epochs: trained.epochs });
  }
  return reportData(result, spec, curves);
}
