import { baselineOf, readJsonIfExists, readSearchSpec, searchPaths, readSummary } from '../store/search-dir.js';
import type { FamilyMember, TrainingState } from '../search/types.js';
import { scalingFactors, type Coefficients, type ScalingFactors } from '../scaling/scale.js';
import type { EpochMetrics, TrainResult } from '../schemas/candidate.js';
import { repeatsOf, rungEpochs, type SearchSpec } from '../schemas/search.js';
import type { Metric } from '../schemas/task.js';
import { resultPath } from '../trainer/result.js';
import { beats, higherIsBetter, lead } from '../search/ranking.js';
import { spreadField } from '../search/noise.js';
import { type AblationRecord, type SearchResult, type SelectionOutcome, type Spend } from '../search/state.js';
import { readCandidateTable, type CandidateRow as TableRow } from '../store/candidate-table.js';
import { ablationCandidateId, finalCandidateId } from '../search/ids.js';

/**
 * Everything the report shows, gathered from a search directory: the recorded search result (`summary.json`),
 * the resolved spec, and the `result.json` files (per-epoch metrics) of the finalists and of the search candidates
 * that went furthest. The renderer is pure on this, so it can be tested on any search outcome.
 */

export interface CandidateRow extends TableRow {
  /** d', w', r' at the search φ. */
  factors: ScalingFactors;
  /** The score of each rung it finished; a table written before rungs existed has its one score. */
  scores: number[];
  /** The spread of its seeds' scores (task.repeats > 1). */
  spread?: number;
  note?: string;
}

/** The compound-vs-single-dimension ablation (final.ablation): the largest finalist and its arms. */
export interface AblationData {
  compound: { member: string; score?: number; macs: number; multiplier: number };
  arms: AblationRecord[];
  verdict?: string;
}

/** How the grid spent its trainings: every candidate all epochs, or successive halving over rungs of epochs. */
export interface SearchStrategy {
  kind: SearchSpec['scaling']['grid']['strategy'];
  /** Epochs of each rung; one rung when exhaustive. */
  rungEpochs: number[];
  /** Halving keeps the best 1/η of each rung. */
  eta: number;
}

/** A search candidate's per-epoch metrics over every rung it trained, and how many rungs it finished. */
export interface CandidateCurve {
  index: number;
  finishedRungs: number;
  epochs: EpochMetrics[];
}

export interface FamilyRow extends FamilyMember {
  finalState?: TrainingState;
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
  metric: Metric;
  higherIsBetter: boolean;
  /** The score of guessing a class at random, which a trained candidate must beat; none for loss. */
  chance?: number;
  rule: string;
  searchPhi: number;
  dataset: string;
  best: SearchResult['best'];
  strategy: SearchStrategy;
  /** What the grid's trainings cost; absent from summaries written before it was recorded. */
  spend?: Spend;
  /** The work the plan expected (epochs × multiply-adds per image, like `spend.work`). */
  plannedWork: number;
  budget?: SearchSpec['execution']['budget'];
  /** Set when the compute budget ended the grid search early. */
  stoppedBy?: 'budget';
  /** Over the whole candidate table. */
  totals: { points: number; trainings: number; scored: number; excluded: number; failed: number };
  /** The rows drawn and listed: all of them up to `REPORT_ROWS`, else a sample that keeps the best and failures. */
  candidates: CandidateRow[];
  sampled: boolean;
  family: FamilyRow[];
  curves: TrainingCurve[];
  candidateCurves: CandidateCurve[];
  /** Seeds per candidate. */
  repeats: number;
  /** What the select step decided (absent in searches from before it). */
  selection?: SelectionOutcome;
  ablation?: AblationData;
  emptyReason?: string;
}

/** A report draws at most this many candidates: a 100k-point search stays a page a browser opens at once. */
export const REPORT_ROWS = 2000;

/** Validation curves drawn of search candidates: beyond a few dozen lines a reader follows none of them. */
export const CANDIDATE_CURVES = 40;

/** The score of each rung a candidate finished; a row of a table written before rungs existed has its one score. */
export function finishedScores(row: TableRow): number[] {
  return row.scores ?? (row.score !== undefined ? [row.score] : []);
}

/** How a reader names the rung a candidate stopped at, in the table and the charts alike: 1-based, with epochs. */
export function rungLabel(strategy: SearchStrategy, finished: number): string {
  const rungs = strategy.rungEpochs;
  return `rung ${finished} of ${rungs.length} (${epochsText(rungs[finished - 1])})`;
}

export const epochsText = (n: number) => `${n} epoch${n === 1 ? '' : 's'}`;

/**
 * The score of a uniform random guess over `classes`: accuracy 1/classes, error 1 − 1/classes. Loss has no such
 * line: a guess's cross-entropy depends on its confidence, not only on the classes.
 */
export function chanceScore(metric: Metric, classes: number): number | undefined {
  if (metric === 'loss') return undefined;
  return metric === 'accuracy' ? 1 / classes : 1 - 1 / classes;
}

/**
 * What the grid points at one heatmap cell came to: scored (the best of their scores), excluded (every one over
 * the limits), else unscored (not trained yet, failed, or cancelled before a score).
 */
export type CellState = 'scored' | 'excluded' | 'unscored';

export interface HeatmapCell {
  x: number;
  y: number;
  state: CellState;
  /** The best score over the third coefficient; scored cells only. */
  score?: number;
}

/**
 * One cell per pair of `x`, `y` coefficient values some candidate has. A pair no candidate has gets no cell: no
 * grid point there satisfies the constraint (or the report's sample left it out).
 */
export function heatmapCells(
  candidates: TableRow[],
  x: keyof Coefficients,
  y: keyof Coefficients,
  higherIsBetter: boolean,
): HeatmapCell[] {
  const cells = new Map<string, HeatmapCell>();
  for (const c of candidates) {
    const key = `${c[x]} ${c[y]}`;
    const cell: HeatmapCell = cells.get(key) ?? { x: c[x], y: c[y], state: 'excluded' };
    if (c.score !== undefined) {
      if (cell.score === undefined || beats(c.score, cell.score, higherIsBetter)) {
        cell.state = 'scored';
        cell.score = c.score;
      }
    } else if (c.state !== 'excluded' && cell.state === 'excluded') cell.state = 'unscored';
    cells.set(key, cell);
  }
  return [...cells.values()];
}

export function reportData(
  result: SearchResult,
  spec: SearchSpec,
  table: TableRow[],
  curves: TrainingCurve[],
  candidateCurves: CandidateCurve[] = [],
): ReportData {
  const { rule, phi, strategy, halving } = spec.scaling.grid;
  const { state } = result;
  // A summary written before spend was recorded has none, whatever its type says.
  const spend = result.spend as Spend | undefined;
  // Every candidate scales the baseline, so they all classify its classes.
  const chance = chanceScore(spec.task.metric, baselineOf(spec).classes);
  const shown =
    table.length > REPORT_ROWS
      ? sampleRows(
          table,
          state.leaders.map((l) => l.index),
        )
      : table;
  const candidates = shown.map((c): CandidateRow => ({
    ...c,
    factors: scalingFactors(rule, c, phi),
    scores: finishedScores(c),
    ...spreadField(c.samples),
    ...((c.excluded ?? c.error) !== undefined && { note: c.excluded ?? c.error }),
  }));
  const count = (state: TableRow['state']) => table.filter((c) => c.state === state).length;
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
    higherIsBetter: higherIsBetter(spec.task.metric),
    ...(chance !== undefined && { chance }),
    rule,
    searchPhi: phi,
    dataset: `${spec.task.dataset.format} (${spec.task.dataset.path})`,
    best: result.best,
    strategy: { kind: strategy, rungEpochs: rungEpochs(spec), eta: halving.eta },
    ...(spend && { spend }),
    plannedWork: state.work,
    ...(spec.execution.budget && { budget: spec.execution.budget }),
    ...(state.stoppedBy && { stoppedBy: state.stoppedBy }),
    totals: {
      points: table.length,
      trainings: new Set(table.filter((c) => c.state !== 'excluded').map((c) => c.group)).size,
      scored: table.filter((c) => c.score !== undefined).length,
      excluded: count('excluded'),
      failed: count('failed'),
    },
    candidates,
    sampled: shown.length < table.length,
    family,
    curves,
    candidateCurves,
    repeats: repeatsOf(spec),
    ...(state.selection && { selection: state.selection }),
    ...(state.ablation && { ablation: ablationData(state, family) }),
    ...(state.emptyReason !== undefined && { emptyReason: state.emptyReason }),
  };
}

/** The arms next to the member they were scaled to match: the largest finalist (the first one retrained). */
function ablationData(state: SearchResult['state'], family: FamilyRow[]): AblationData {
  const final = state.finals[0];
  const member = family.find((m) => m.name === final?.member);
  return {
    compound: {
      member: final?.member ?? '–',
      ...(final?.score !== undefined && { score: final.score }),
      macs: member?.macs ?? 0,
      multiplier: member?.multiplier ?? 0,
    },
    arms: state.ablation ?? [],
    ...(state.ablationVerdict && { verdict: state.ablationVerdict }),
  };
}

/** Reads a finished (or cancelled, or failed) search's directory into report data. */
export async function loadReportData(searchDir: string): Promise<ReportData | undefined> {
  const result = await readSummary(searchDir);
  const table = await readCandidateTable(searchDir);
  if (!result || !table) return undefined;
  const spec = await readSearchSpec(searchDir);
  const curves: TrainingCurve[] = [];
  const finals = [
    ...result.state.finals.map((f) => ({ member: f.member, id: finalCandidateId(f.member) })),
    ...(result.state.ablation ?? []).map((a) => ({ member: `ablation ${a.name}`, id: ablationCandidateId(a.name) })),
  ];
  for (const { member, id } of finals) {
    const trained = await readJsonIfExists<TrainResult>(resultPath(searchPaths(searchDir).final(id)));
    if (trained?.epochs.length) curves.push({ member, epochs: trained.epochs });
  }
  const candidateCurves: CandidateCurve[] = [];
  for (const c of curvedCandidates(table, higherIsBetter(spec.task.metric))) {
    // Under halving a training's result.json holds every epoch of every rung it reached.
    const trained = await readJsonIfExists<TrainResult>(resultPath(searchPaths(searchDir).candidate(c.group)));
    if (trained?.epochs.length)
      candidateCurves.push({ index: c.index, finishedRungs: finishedScores(c).length, epochs: trained.epochs });
  }
  return reportData(result, spec, table, curves, candidateCurves);
}

/**
 * The trainings whose curves the report draws, at most CANDIDATE_CURVES: those that finished the most rungs, best
 * last score first, one grid point per training.
 */
export function curvedCandidates(table: TableRow[], higherIsBetter: boolean): TableRow[] {
  const trained = table.filter((c) => c.sharesTrainingOf === undefined && finishedScores(c).length > 0);
  const last = (c: TableRow) => finishedScores(c).at(-1) ?? 0;
  return trained
    .sort(
      (a, b) =>
        finishedScores(b).length - finishedScores(a).length ||
        lead(last(b), last(a), higherIsBetter) ||
        a.index - b.index,
    )
    .slice(0, CANDIDATE_CURVES);
}

/**
 * At most REPORT_ROWS rows in grid order: the leaders, the first failures, and an even stride through the rest,
 * so the plots keep the grid's shape and the table keeps what a reader looks for first.
 */
function sampleRows(table: TableRow[], leaders: number[]): TableRow[] {
  const keep = new Set(leaders);
  for (const c of table) if (c.state === 'failed' && keep.size < leaders.length + 50) keep.add(c.index);
  const stride = table.length / (REPORT_ROWS - keep.size);
  for (let i = 0; i < table.length && keep.size < REPORT_ROWS; i += stride) keep.add(table[Math.floor(i)].index);
  return table.filter((c) => keep.has(c.index));
}
