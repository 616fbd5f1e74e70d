import { checkBudget, estimate, hours } from '../search/estimate.js';
import { planPoints, trainingMacs } from '../activities/plan.js';
import { checkSearchInputs } from '../activities/preflight.js';
import { searchDirOf, registryRoot } from '../store/search-dir.js';
import type { PlannedCandidate } from '../search/types.js';
import { repeatsOf, rungEpochs, type SearchSpec } from '../schemas/search.js';
import { workflowIdFor } from './search.js';
import { throughputFor } from '../activities/throughput.js';

const SHOWN = 20;

/**
 * `effscale search SPEC --dry-run`: every check the plan step makes, and the plan itself (grid points, distinct
 * trainings, excluded points with reasons, costs) and its cost estimate against the budget, with nothing started.
 */
export async function dryRun(spec: SearchSpec, stateDir: string) {
  const searchId = workflowIdFor(spec);
  const size = await checkSearchInputs(spec, registryRoot(searchDirOf(stateDir, searchId), spec.registry.path));
  const { points, emptyReason } = planPoints(spec, undefined);
  const cost = estimate(spec, trainingMacs(points), size, await throughputFor(spec, stateDir));
  const trained = points.filter((p) => !p.excluded);
  const trainings = new Map<string, PlannedCandidate>();
  for (const p of trained) if (!trainings.has(p.group)) trainings.set(p.group, p); // the representative: first
  const macs = [...trainings.values()].map((p) => p.macs);
  return {
    searchId,
    points: points.length,
    trainings: trainings.size,
    chunks: Math.ceil(trainings.size / spec.execution.chunkSize),
    macs: macs.length ? { min: Math.min(...macs), max: Math.max(...macs) } : null,
    excluded: points.flatMap((p) =>
      p.excluded ? [{ index: p.index, alpha: p.alpha, beta: p.beta, gamma: p.gamma, reason: p.excluded }] : [],
    ),
    trainingsShown: [...trainings.values()].slice(0, SHOWN),
    strategy: spec.scaling.grid.strategy,
    rungs: rungEpochs(spec),
    eta: spec.scaling.grid.halving.eta,
    repeats: repeatsOf(spec),
    parallelism: spec.execution.parallelism,
    estimate: cost,
    budget: spec.execution.budget ?? null,
    overBudget: checkBudget(spec, cost),
    ...(emptyReason !== undefined && { emptyReason }),
  };
}

export function dryRunSummary(plan: Awaited<ReturnType<typeof dryRun>>): string {
  const lines = [
    `search ${plan.searchId} (dry run: nothing started; the dataset and registry checks passed)`,
    `${plan.points} grid points, ${plan.trainings} distinct trainings in ${plan.chunks} chunk(s), ` +
      `${plan.excluded.length} excluded`,
  ];
  if (plan.macs)
    lines.push(`multiply-adds per image: ${(plan.macs.min / 1e6).toFixed(2)}M … ${(plan.macs.max / 1e6).toFixed(2)}M`);
  for (const t of plan.trainingsShown)
    lines.push(`  α=${t.alpha} β=${t.beta} γ=${t.gamma} ${(t.macs / 1e6).toFixed(2)}M MACs (${t.group})`);
  if (plan.trainings > plan.trainingsShown.length)
    lines.push(`  … ${plan.trainings - plan.trainingsShown.length} more`);
  for (const e of plan.excluded.slice(0, SHOWN))
    lines.push(`  excluded α=${e.alpha} β=${e.beta} γ=${e.gamma}: ${e.reason}`);
  if (plan.emptyReason) lines.push(`nothing to train: ${plan.emptyReason}`);
  lines.push(...estimateLines(plan));
  return lines.join('\n');
}

function estimateLines(plan: Awaited<ReturnType<typeof dryRun>>): string[] {
  const e = plan.estimate;
  const seeds = plan.repeats > 1 ? `, for each of ${plan.repeats} seeds per candidate` : '';
  const lines = [
    (plan.strategy === 'halving'
      ? `successive halving: rungs of ${plan.rungs.join('/')} epochs, each keeping the best 1/${plan.eta}`
      : `exhaustive: every training runs ${plan.rungs[0]} epoch(s)`) + seeds,
    `work: ${(e.work / 1e9).toFixed(2)} G epoch×MACs per image expected` +
      (e.worst > e.work ? ` (at most ${(e.worst / 1e9).toFixed(2)} G)` : '') +
      `, ${e.imagesPerEpoch} image passes per epoch`,
  ];
  if (e.deviceSeconds !== null && e.wallSeconds !== null && e.throughput)
    lines.push(
      `estimate: ${hours(e.deviceSeconds)} device-hours, ${hours(e.wallSeconds)} hours of wall time at parallelism ` +
        `${plan.parallelism} (${(e.throughput.macsPerSecond / 1e9).toFixed(2)} GMAC/s, ${e.throughput.source})`,
    );
  else
    lines.push(
      'estimate: no throughput known yet: set execution.throughput (multiply-adds per second per training), or ' +
        "let this store's first search measure it; the first finished training calibrates the live estimate",
    );
  if (plan.budget && e.deviceSeconds === null)
    lines.push('execution.budget: not checked before a throughput is known; enforced while the search runs');
  else if (plan.budget) lines.push(plan.overBudget ? `over budget: ${plan.overBudget}` : 'within execution.budget');
  return lines;
}
