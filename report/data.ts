import { join } from 'node:path';
import { readJsonIfExists, readSearchSpec } from '../activities/search-dir.js';
import type { FamilyMember } from '../activities/types.js';
import { scalingFactors, type ScalingFactors } from '../scaling/scale.js';
import type { EpochMetrics, TrainResult } from '../spec/candidate.js';
import type { SearchSpec } from '../spec/search.js';
import type { SearchResult, TrainingState } from '../workflows/state.js';
import { readCandidateTable, type CandidateRow as TableRow } from '../activities/candidate-table.js';
import { readSummary } from '../activities/register.js';

/**
 * Everything the report shows, gathered from a search directory: the recorded search result (`summary.json`),
 * the resolved spec, and the finalists' `result.json` files (their per-epoch metrics). The renderer is pure on
 * this, so it can be tested on any search outcome.
 */

export interface CandidateRow extends TableRow {
  /** d', w', r' at the search φ. */
  factors: ScalingFactors;
  note?: string;
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
  metric: string;
  higherIsBetter: boolean;
  rule: string;
  searchPhi: number;
  dataset: string;
  best: SearchResult['best'];
  /** Over the whole candidate table. */
  totals: { points: number; trainings: number; scored: number; excluded: number; failed: number };
  /** The rows drawn and listed: all of them up to `REPORT_ROWS`, else a sample that keeps the best and failures. */
  candidates: CandidateRow[];
  sampled: boolean;
  family: FamilyRow[];
  curves: TrainingCurve[];
  emptyReason?: string;
}

/** A report draws at most this many candidates: a 100k-point search stays a page a browser opens at once. */
export const REPORT_ROWS = 2000;

export function reportData(
  result: SearchResult,
  spec: SearchSpec,
  table: TableRow[],
  curves: TrainingCurve[],
): ReportData {
  const { rule, phi } = spec.scaling.grid;
  const { state } = result;
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
    higherIsBetter: spec.task.metric === 'accuracy',
    rule,
    searchPhi: phi,
    dataset: `${spec.task.dataset.format} (${spec.task.dataset.path})`,
    best: result.best,
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
    ...(state.emptyReason !== undefined && { emptyReason: state.emptyReason }),
  };
}

/** Reads a finished (or cancelled, or failed) search's directory into report data. */
export async function loadReportData(searchDir: string): Promise<ReportData | undefined> {
  const result = await readSummary(searchDir);
  const table = await readCandidateTable(searchDir);
  if (!result || !table) return undefined;
  const spec = await readSearchSpec(searchDir);
  const curves: TrainingCurve[] = [];
  for (const final of result.state.finals) {
    const trained = await readJsonIfExists<TrainResult>(
      join(searchDir, 'final', `final-${final.member}`, 'result.json'),
    );
    if (trained?.epochs.length) curves.push({ member: final.member, epochs: trained.epochs });
  }
  return reportData(result, spec, table, curves);
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
