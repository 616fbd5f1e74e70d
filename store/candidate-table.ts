import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readJsonIfExists, writeJsonAtomic } from './search-dir.js';
import { writeFileAtomic } from '../trainer/durable.js';
import type { LoadedChunk, PlannedCandidate, PlanOutput, PlannedTraining, TrainingRecord } from '../search/types.js';

/**
 * The candidate table: every grid point, every distinct training and its outcome, kept in the search directory
 * so that workflow payloads carry counts and chunk numbers only, whatever the grid size.
 *
 *   table/manifest.json     chunk size and one entry per plan (the grid, then each extension)
 *   table/points-<plan>.jsonl   the plan's grid points, one JSON object per line
 *   table/chunk-<k>.json    the trainings of chunk k (distinct architectures, in plan order)
 *   table/outcomes-<k>.json what chunk k's workflow recorded for each of its trainings
 *
 * The manifest is written last: a plan interrupted half-way is planned again from scratch, and a retried plan
 * that did finish returns its manifest entry unchanged.
 */

interface Manifest {
  chunkSize: number;
  plans: PlanOutput[];
}

const pad = (n: number) => String(n).padStart(5, '0');

export const tablePaths = (searchDir: string) => {
  const dir = join(searchDir, 'table');
  return {
    manifest: join(dir, 'manifest.json'),
    points: (plan: number) => join(dir, `points-${pad(plan)}.jsonl`),
    chunk: (chunk: number) => join(dir, `chunk-${pad(chunk)}.json`),
    outcomes: (chunk: number) => join(dir, `outcomes-${pad(chunk)}.json`),
  };
};

async function readManifest(searchDir: string): Promise<Manifest | undefined> {
  return readJsonIfExists<Manifest>(tablePaths(searchDir).manifest);
}

/** Groups that already have a training in an earlier chunk: a new grid point with one of them shares it. */
async function plannedGroups(searchDir: string, manifest: Manifest | undefined): Promise<Set<string>> {
  const groups = new Set<string>();
  const chunks = manifest?.plans.reduce((n, p) => n + p.chunks, 0) ?? 0;
  for (let k = 0; k < chunks; k++) for (const t of await readChunkTrainings(searchDir, k)) groups.add(t.group);
  return groups;
}

export interface PlannedGrid {
  /** The grid points, numbered from 0 within this plan; `writePlan` numbers them after the existing ones. */
  points: PlannedCandidate[];
  emptyReason?: string;
}

/** Adds a plan's points and its new trainings to the table, or returns what the same plan id added before. */
export async function writePlan(
  searchDir: string,
  planId: number,
  chunkSize: number,
  grid: PlannedGrid,
  cost: { epochsPerTraining: number; imagesPerEpoch: number },
): Promise<PlanOutput> {
  const manifest = await readManifest(searchDir);
  const earlier = manifest?.plans[planId];
  if (earlier) return earlier;
  const plans = manifest?.plans.slice(0, planId) ?? [];
  if (plans.length !== planId) throw new Error(`plan ${planId} of ${searchDir}: plans before it are missing`);
  const size = manifest?.chunkSize ?? chunkSize;
  const firstIndex = plans.reduce((n, p) => n + p.points, 0);
  const firstChunk = plans.reduce((n, p) => n + p.chunks, 0);
  const seen = await plannedGroups(searchDir, manifest);
  const points = grid.points.map((p) => ({ ...p, index: firstIndex + p.index }));
  const trainings: PlannedTraining[] = [];
  for (const p of points) {
    if (p.excluded || seen.has(p.group)) continue;
    seen.add(p.group);
    trainings.push({
      group: p.group,
      index: p.index,
      alpha: p.alpha,
      beta: p.beta,
      gamma: p.gamma,
      macs: p.macs,
      params: p.params,
    });
  }
  const paths = tablePaths(searchDir);
  await writeJsonLines(paths.points(planId), points);
  const chunks = Math.ceil(trainings.length / size);
  for (let k = 0; k < chunks; k++)
    await writeJsonAtomic(paths.chunk(firstChunk + k), trainings.slice(k * size, (k + 1) * size));
  const output: PlanOutput = {
    points: points.length,
    excluded: points.filter((p) => p.excluded).length,
    trainings: trainings.length,
    firstChunk,
    chunks,
    work: trainings.reduce((sum, t) => sum + t.macs, 0) * cost.epochsPerTraining,
    imagesPerEpoch: cost.imagesPerEpoch,
    ...(grid.emptyReason !== undefined && { emptyReason: grid.emptyReason }),
  };
  await writeJsonAtomic(paths.manifest, { chunkSize: size, plans: [...plans, output] } satisfies Manifest);
  return output;
}

async function writeJsonLines(file: string, rows: unknown[]): Promise<void> {
  await writeFileAtomic(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

async function readChunkTrainings(searchDir: string, chunk: number): Promise<PlannedTraining[]> {
  const file = tablePaths(searchDir).chunk(chunk);
  const trainings = await readJsonIfExists<PlannedTraining[]>(file);
  if (!trainings) throw new Error(`chunk ${chunk}: ${file} is missing (the candidate table is incomplete)`);
  return trainings;
}

export async function readChunk(searchDir: string, chunk: number): Promise<LoadedChunk> {
  return {
    trainings: await readChunkTrainings(searchDir, chunk),
    recorded: (await readJsonIfExists<Record<string, TrainingRecord>>(tablePaths(searchDir).outcomes(chunk))) ?? {},
  };
}

export async function writeOutcomes(
  searchDir: string,
  chunk: number,
  records: Record<string, TrainingRecord>,
): Promise<void> {
  await writeJsonAtomic(tablePaths(searchDir).outcomes(chunk), records);
}

/** A grid point with its training's outcome: what `effscale result` lists and the report draws. */
export interface CandidateRow extends PlannedCandidate, Omit<TrainingRecord, 'state'> {
  state: TrainingRecord['state'] | 'excluded';
  /** The grid point whose training this one shares, when it is not its group's representative. */
  sharesTrainingOf?: number;
}

/** The whole table, grid order. Undefined when the search has not been planned (in this store). */
export async function readCandidateTable(searchDir: string): Promise<CandidateRow[] | undefined> {
  const manifest = await readManifest(searchDir);
  if (!manifest) return undefined;
  const paths = tablePaths(searchDir);
  const representative = new Map<string, number>();
  const records = new Map<string, TrainingRecord>();
  const chunks = manifest.plans.reduce((n, p) => n + p.chunks, 0);
  for (let k = 0; k < chunks; k++) {
    const { trainings, recorded } = await readChunk(searchDir, k);
    for (const t of trainings) representative.set(t.group, t.index);
    for (const [group, record] of Object.entries(recorded)) records.set(group, record);
  }
  const rows: CandidateRow[] = [];
  for (let plan = 0; plan < manifest.plans.length; plan++) {
    const text = await readFile(paths.points(plan), 'utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      const point = JSON.parse(line) as PlannedCandidate;
      rows.push(rowOf(point, records.get(point.group), representative.get(point.group)));
    }
  }
  return rows;
}

function rowOf(point: PlannedCandidate, record: TrainingRecord | undefined, representative?: number): CandidateRow {
  if (point.excluded) return { ...point, state: 'excluded' };
  const shares = representative !== undefined && representative !== point.index;
  return {
    ...point,
    state: record?.state ?? 'pending',
    ...(record?.score !== undefined && { score: record.score }),
    ...(record?.scores !== undefined && { rung: record.rung ?? 0, scores: record.scores }),
    ...(record?.samples !== undefined && { samples: record.samples }),
    ...(record?.seconds !== undefined && { seconds: record.seconds }),
    ...(record?.disruptions !== undefined && { disruptions: record.disruptions }),
    ...(record?.error !== undefined && { error: record.error }),
    ...(shares && { sharesTrainingOf: representative }),
  };
}
