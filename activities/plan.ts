import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { planGrid } from '../scaling/grid.js';
import { architectureKey } from '../scaling/scale.js';
import { createExecutor } from './executors/index.js';
import { parseSpec } from '../scaling/validate.js';
import { SearchSpec } from '../spec/search.js';
import { baselineOf, searchPaths, writeJsonAtomic, writeSearchSpec } from './search-dir.js';
import type { PlanInput, PlanOutput, PlannedCandidate } from './types.js';

/** A short, stable id of a rounded architecture: the dedup group and the name of its training. */
export function groupId(key: string): string {
  return `g${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

/**
 * Plans the α/β/γ grid (or an extension of it) with the scaling core. Architectures go to the search directory,
 * one file per dedup group; the workflow gets only coefficients, costs and group ids. Deterministic, so a
 * retried plan produces the same answer. Each plan writes the spec the workflow carries into the search directory,
 * where the other activities read it.
 */
export async function plan(searchDir: string, input: PlanInput): Promise<PlanOutput> {
  const spec = parseSpec(SearchSpec, input.spec, `search ${input.searchId}: spec`);
  await writeSearchSpec(searchDir, spec);
  // A bad pod template (or cluster access) fails the search here, before any candidate starts.
  await createExecutor(spec.execution).preflight?.(input.searchId, searchDir);
  const paths = searchPaths(searchDir);
  const ext = input.extension ?? {};
  const grid = {
    ...spec.scaling.grid,
    ...(ext.alpha && { alpha: ext.alpha }),
    ...(ext.beta && { beta: ext.beta }),
    ...(ext.gamma && { gamma: ext.gamma }),
    ...(ext.tolerance !== undefined && { tolerance: ext.tolerance }),
    ...(ext.random && { random: ext.random }),
  };
  const planned = planGrid(baselineOf(spec), grid);
  const candidates: PlannedCandidate[] = [];
  for (const c of planned.candidates) {
    const group = groupId(architectureKey(c.architecture));
    await writeJsonAtomic(paths.architecture(group), c.architecture);
    candidates.push({
      index: input.existing + c.index,
      alpha: c.alpha,
      beta: c.beta,
      gamma: c.gamma,
      group,
      macs: c.cost.macs,
      params: c.cost.params.total,
      ...(c.excluded !== undefined && { excluded: c.excluded }),
    });
  }
  const file = input.existing === 0 ? paths.grid : join(searchDir, `grid-from-${input.existing}.json`);
  await writeJsonAtomic(file, { options: grid, target: planned.target, candidates });
  return { candidates, ...(planned.emptyReason !== undefined && { emptyReason: planned.emptyReason }) };
}
