import { durationSeconds, repeatsOf, rungEpochs, type SearchSpec } from '../schemas/search.js';
import { higherIsBetter } from './ranking.js';
import type { RunOptions } from './state.js';

/**
 * The options a search's workflows run by, derived from the validated spec in this one place. The spec itself
 * travels once, to the first plan, which writes it into the store; the workflows carry these options (a few
 * hundred bytes, with the search's identity: `SearchOptions`) and every worker-side step reads the spec there.
 */
export function runOptions(spec: SearchSpec): RunOptions {
  const x = spec.execution;
  return {
    higherIsBetter: higherIsBetter(spec.task.metric),
    parallelism: x.parallelism,
    maxAttempts: x.retries + 1,
    failureBudget: x.failureBudget,
    heartbeatTimeout: x.heartbeatTimeout,
    candidateTimeout: x.candidateTimeout,
    continueAsNewAfter: x.continueAsNewAfter,
    finalists: spec.final.finalists,
    rungs: rungEpochs(spec),
    eta: spec.scaling.grid.halving.eta,
    repeats: repeatsOf(spec),
    ablation: spec.final.ablation ?? false,
    ...(spec.selection?.rule === 'max-under' && {
      costLimits: {
        ...(spec.selection.maxMacs !== undefined && { maxMacs: spec.selection.maxMacs }),
        ...(spec.selection.maxParams !== undefined && { maxParams: spec.selection.maxParams }),
      },
    }),
    budget: x.budget
      ? {
          ...(x.budget.gpuHours !== undefined && { deviceSeconds: x.budget.gpuHours * 3600 }),
          ...(x.budget.wallTime !== undefined && { wallSeconds: durationSeconds(x.budget.wallTime) }),
        }
      : null,
  };
}
