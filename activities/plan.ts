import { createHash } from 'node:crypto';
import { planGrid, type GridCandidate } from '../scaling/grid.js';
import { architectureKey } from '../scaling/scale.js';
import { parseSpec, SpecError } from '../scaling/validate.js';
import { SearchSpec, type Execution } from '../schemas/search.js';
import type { Executor } from '../executors/executor.js';
import { admitSpec } from '../executors/admit.js';
import { writePlan, type PlannedGrid } from '../store/candidate-table.js';
import { checkBudget, epochsPerTraining, estimate, imagesPerEpoch, type DatasetSize } from '../search/estimate.js';
import { checkSearchInputs } from './preflight.js';
import {
  baselineOf,
  readJsonIfExists,
  searchPaths,
  stateDirOf,
  writeJsonAtomic,
  writeSearchSpec,
  readSearchSpec,
  registryRoot,
} from '../store/search-dir.js';
import type { PlanInput, PlanOutput, PlannedCandidate, SearchExtension } from '../search/types.js';
import { activityFailure } from './failures.js';
import { throughputFor } from './throughput.js';

/** A short, stable id of a rounded architecture: the dedup group and the name of its training. */
export function groupId(key: string): string {
  return `g${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

/**
 * Plans the α/β/γ grid (or an extension of it) with the scaling core into the candidate table of the search
 * directory; the workflow gets counts and chunk numbers only. Deterministic, and keyed by `planId`, so a retried
 * plan returns the same answer. `dedup: false` (benchmarks only) makes every grid point its own training. A run's
 * first plan writes the spec its client sent into the search directory, where every other step reads it.
 */
export async function plan(
  searchDir: string,
  input: PlanInput,
  executorFor: (execution: Execution) => Executor,
  dedup = true,
): Promise<PlanOutput> {
  const spec = await specFor(searchDir, input);
  // Bad input (dataset, classes, registry, pod template, cluster access, budget) fails here, before any training.
  const size = await datasetSize(searchDir, spec, input.planId);
  await executorFor(spec.execution)
    .preflight?.(input.searchId, searchDir)
    .catch((err: unknown) => {
      throw activityFailure(err);
    });
  const grid = planPoints(spec, input.extension, dedup);
  if (input.planId === 0) await refuseOverBudget(searchDir, spec, grid, size);
  const cost = {
    epochsPerTraining: epochsPerTraining(spec),
    imagesPerEpoch: imagesPerEpoch(size),
  };
  return writePlan(searchDir, input.planId, spec.execution.chunkSize, grid, cost);
}

async function specFor(searchDir: string, input: PlanInput): Promise<SearchSpec> {
  if (input.spec === undefined) return readSearchSpec(searchDir);
  return recordSpec(searchDir, input.searchId, input.spec);
}

/**
 * The spec a client sent is validated, admitted by the operator policy, and written to the store, where every
 * later step reads it.
 */
export async function recordSpec(searchDir: string, searchId: string, raw: unknown): Promise<SearchSpec> {
  const spec = parseSpec(SearchSpec, raw, `search ${searchId}: spec`);
  admitSpec(spec);
  await writeSearchSpec(searchDir, spec);
  return spec;
}

/** The grid's checks read the dataset once; extensions reuse the size it found. */
async function datasetSize(searchDir: string, spec: SearchSpec, planId: number): Promise<DatasetSize> {
  const file = searchPaths(searchDir).datasetSize;
  const known = planId > 0 ? await readJsonIfExists<DatasetSize>(file) : undefined;
  if (known) return known;
  const size = await checkSearchInputs(
    spec,
    registryRoot(searchDir, spec.registry.path),
    searchPaths(searchDir).datasetIndexes,
  );
  await writeJsonAtomic(file, size);
  return size;
}

async function refuseOverBudget(searchDir: string, spec: SearchSpec, grid: PlannedGrid, size: DatasetSize) {
  const throughput = await throughputFor(spec, stateDirOf(searchDir));
  const over = checkBudget(spec, estimate(spec, trainingMacs(grid.points), size, throughput));
  if (over) throw new SpecError(`execution.budget: ${over}`);
}

/** The multiply-adds of each distinct training (a dedup group's first point). */
export function trainingMacs(points: readonly PlannedCandidate[]): number[] {
  const groups = new Map<string, number>();
  for (const p of points) if (!p.excluded && !groups.has(p.group)) groups.set(p.group, p.macs);
  return [...groups.values()];
}

/** The grid (or an extension's) as candidate-table rows: the plan step's and `search --dry-run`'s one source. */
/** The grid as the scaling core takes it: how the search spends its trainings is not the core's concern. */
export function scalingGrid(grid: SearchSpec['scaling']['grid']) {
  const { strategy: _strategy, halving: _halving, ...options } = grid;
  return options;
}

export function planPoints(spec: SearchSpec, extension: SearchExtension | undefined, dedup = true): PlannedGrid {
  const ext = extension ?? {};
  const grid = {
    ...scalingGrid(spec.scaling.grid),
    ...(ext.alpha && { alpha: ext.alpha }),
    ...(ext.beta && { beta: ext.beta }),
    ...(ext.gamma && { gamma: ext.gamma }),
    ...(ext.tolerance !== undefined && { tolerance: ext.tolerance }),
    ...(ext.random && { random: ext.random }),
  };
  const planned = planGrid(baselineOf(spec), grid);
  // Grid points of one dedup group share their architecture: hash it once.
  const groups = new Map<number, string>();
  const groupOf = (c: GridCandidate) => {
    if (!dedup) return groupId(`${c.alpha},${c.beta},${c.gamma}`);
    let id = groups.get(c.dedupGroup);
    if (id === undefined) groups.set(c.dedupGroup, (id = groupId(architectureKey(c.architecture))));
    return id;
  };
  const points = planned.candidates.map((c): PlannedCandidate => ({
    index: c.index,
    alpha: c.alpha,
    beta: c.beta,
    gamma: c.gamma,
    group: groupOf(c),
    macs: c.cost.macs,
    params: c.cost.params.total,
    ...(c.excluded !== undefined && { excluded: c.excluded }),
  }));
  return { points, ...(planned.emptyReason !== undefined && { emptyReason: planned.emptyReason }) };
}
