import { z } from 'zod';
import { GridOptions } from '../scaling/grid.js';
import { BaselineInput } from '../scaling/input.js';
import { ResourceLimits } from '../scaling/limits.js';
import { KubernetesSettings } from './kubernetes.js';
import { LocalExecution } from './local.js';
import { Task, Training } from './task.js';

/**
 * The search spec (YAML): what to scale, on what task, how the α/β/γ grid is searched, which family to produce,
 * where it runs and how much failure it tolerates. The CLI validates it with `parseSpec(SearchSpec, …)`; the
 * workflow only ever sees the resolved copy the CLI stores in the search directory.
 */

const Duration = z
  .string()
  .regex(/^\d+(ms|s|m|h)$/, 'a duration such as "30s", "5m" or "2h"')
  .describe('a duration: <number><ms|s|m|h>');

const UNIT_SECONDS = { ms: 0.001, s: 1, m: 60, h: 3600 } as const;

/** Seconds of a validated `Duration`. */
export function durationSeconds(d: string): number {
  const [, n, unit] = /^(\d+)(ms|s|m|h)$/.exec(d) ?? [];
  return Number(n) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
}

/**
 * The task as the search sees it: the candidates' task, and how many seeds each candidate trains with. The
 * trainer never sees `repeats`: each repeat is a training of its own, with seed training.seed + r.
 */
export const SearchTask = Task.safeExtend({
  repeats: z
    .number()
    .int()
    .min(1)
    .max(10)
    .optional()
    .describe(
      'seeds per candidate (default 1): its score is their mean, and their spread says which candidates are ' +
        'tied within the noise',
    ),
});
export type SearchTask = z.infer<typeof SearchTask>;

/** Seeds each candidate trains with. */
export function repeatsOf(spec: { task: SearchTask }): number {
  return spec.task.repeats ?? 1;
}

export const Targets = z
  .object({
    phis: z.array(z.number().min(0).max(16)).min(1).optional().describe('compound coefficients of the family'),
    multipliers: z.array(z.number().gt(0)).min(1).optional().describe('N× the baseline compute: φ = log2 N'),
    limits: ResourceLimits.optional().describe('the largest φ whose scaled architecture fits these'),
    cost: z
      .enum(['nominal', 'measured'])
      .default('nominal')
      .describe(
        'nominal: each member at its φ; measured: at the φ whose rounded architecture really costs closest to ' +
          "2^φ × the baseline's multiply-adds",
      ),
  })
  .strict()
  .refine((t) => t.phis !== undefined || t.multipliers !== undefined || t.limits !== undefined, {
    message: 'give at least one of phis, multipliers or limits',
  });
export type Targets = z.infer<typeof Targets>;

/**
 * Successive halving over the grid (ASHA): rung k trains every surviving candidate to minEpochs·η^k epochs (at
 * most maxEpochs) and promotes the best 1/η, each promotion continuing from the candidate's checkpoint.
 */
export const Halving = z
  .object({
    eta: z.number().int().min(2).max(16).default(3).describe('each rung keeps the best 1/η of its candidates'),
    minEpochs: z.number().int().min(1).default(1).describe('epochs of the first rung'),
    maxEpochs: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('epochs of the last rung, and of the learning-rate schedule; default training.epochs'),
  })
  .strict();
export type Halving = z.infer<typeof Halving>;

/** The grid options of the scaling core, and how the search spends its trainings on them. */
export const SearchGrid = GridOptions.safeExtend({
  strategy: z
    .enum(['exhaustive', 'halving'])
    .default('exhaustive')
    .describe('exhaustive: every candidate trains all epochs; halving: successive halving over rungs of epochs'),
  halving: Halving.default(() => Halving.parse({})),
});
export type SearchGrid = z.infer<typeof SearchGrid>;

export const Scaling = z
  .object({
    grid: SearchGrid.default(() => SearchGrid.parse({})).describe(
      'the coefficient search: phi, rule, alpha/beta/gamma {min,max,step}, tolerance, random {count,seed}, ' +
        'limits, strategy (exhaustive | halving) and halving {eta, minEpochs, maxEpochs}',
    ),
    targets: Targets.default(() => Targets.parse({ phis: [1] })).describe(
      'the family to produce from the best coefficients',
    ),
  })
  .strict();
export type Scaling = z.infer<typeof Scaling>;

/** A compute budget for the coefficient search (the final retraining is estimated, not bounded). */
export const Budget = z
  .object({
    gpuHours: z
      .number()
      .positive()
      .optional()
      .describe('device-hours of training: one GPU (or one local trainer) per candidate'),
    wallTime: Duration.optional().describe('elapsed time from the search start'),
    proceed: z.boolean().default(false).describe('start even when the plan estimates more than the budget'),
  })
  .strict()
  .refine((b) => b.gpuHours !== undefined || b.wallTime !== undefined, {
    message: 'give gpuHours, wallTime or both',
  });
export type Budget = z.infer<typeof Budget>;

export const Execution = z
  .object({
    executor: z.enum(['local', 'kubernetes']).default('local'),
    profile: z
      .string()
      .optional()
      .describe("the operator's execution profile to run under (a worker with a policy: docs/kubernetes.md)"),
    parallelism: z.number().int().min(1).max(512).default(2),
    retries: z.number().int().min(0).max(20).default(2).describe('retries of a failed candidate after the first try'),
    failureBudget: z
      .number()
      .int()
      .min(0)
      .default(2)
      .describe(
        'candidates that may fail for good before the search fails (disruptions — node loss, preemption, eviction — never count)',
      ),
    checkpointMinutes: z
      .number()
      .positive()
      .max(1440)
      .default(10)
      .describe(
        'trainers also checkpoint mid-epoch once this long has passed since the last checkpoint: what a lost node or a preemption costs at most',
      ),
    heartbeatTimeout: Duration.default('2m'),
    candidateTimeout: Duration.default('6h'),
    continueAsNewAfter: z
      .number()
      .int()
      .min(50)
      .max(40000)
      .default(8000)
      .describe('history events after which the search (or one of its chunks) continues as new'),
    chunkSize: z
      .number()
      .int()
      .min(1)
      .max(2000)
      .default(500)
      .describe(
        'trainings per chunk: each chunk is a child workflow, so a search of any size stays in Temporal limits',
      ),
    budget: Budget.optional().describe('stop the search when its training spend reaches this'),
    throughput: z
      .number()
      .positive()
      .optional()
      .describe(
        'multiply-adds per second one training sustains (forward and backward counted): the estimate before ' +
          "any epoch of this search finished; default: this worker store's last measured figure",
      ),
    local: LocalExecution.default(() => LocalExecution.parse({})),
    kubernetes: KubernetesSettings.optional().describe(
      'pod template and executor settings (schemas/kubernetes.ts); the worker fills the rest from EFFSCALE_KUBERNETES_DEFAULTS',
    ),
  })
  .strict();
export type Execution = z.infer<typeof Execution>;

export const Final = z
  .object({
    training: Training.optional().describe('final training budget; default: the search budget'),
    finalists: z.number().int().min(0).default(1).describe('how many family members (largest φ first) to retrain'),
    ablation: z
      .boolean()
      .optional()
      .describe(
        'also train, with the final budget, the baseline and the baseline scaled along depth only, width only and ' +
          'resolution only to the real multiply-adds of the largest finalist: does compound scaling win here?',
      ),
  })
  .strict();
export type Final = z.infer<typeof Final>;

/**
 * Which candidate the family is scaled from: the best score (`max`), the best score within resource limits
 * (`max-under`), or the best score with the Pareto set of score against multiply-adds marked (`pareto`).
 */
export const Selection = z
  .object({
    rule: z.enum(['max', 'max-under', 'pareto']).default('max'),
    maxMacs: z.number().positive().optional().describe('max-under: multiply-adds per image of the candidate'),
    maxParams: z.number().positive().optional().describe('max-under: parameters of the candidate'),
    maxLatencyMs: z
      .number()
      .positive()
      .optional()
      .describe('max-under: milliseconds per image at batch 1, as the trainer measured after training'),
  })
  .strict()
  .superRefine((s, ctx) => {
    const limited = s.maxMacs !== undefined || s.maxParams !== undefined || s.maxLatencyMs !== undefined;
    if (s.rule === 'max-under' && !limited)
      ctx.addIssue({ code: 'custom', message: 'max-under needs maxMacs, maxParams or maxLatencyMs' });
    if (s.rule !== 'max-under' && limited)
      ctx.addIssue({ code: 'custom', message: `limits apply to rule max-under only, not ${s.rule}` });
  });
export type Selection = z.infer<typeof Selection>;

export const SearchSpec = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes, at most 63 characters')
      .describe('search name: part of the workflow id and the registered model name'),
    baseline: BaselineInput.describe(
      'a preset name (micro-28, b0…) or an architecture, optionally `preset:` + overrides',
    ),
    task: SearchTask,
    training: Training.default({
      epochs: 1,
      batchSize: 32,
      optimizer: 'adam',
      learningRate: 1e-3,
      momentum: 0.9,
      warmupEpochs: 0,
      schedule: 'cosine',
      labelSmoothing: 0,
      seed: 0,
    }).describe('search training budget per candidate'),
    scaling: Scaling.default(() => Scaling.parse({})),
    execution: Execution.default(() => Execution.parse({})),
    final: Final.default({ finalists: 1 }),
    selection: Selection.optional().describe('how the candidate to scale is chosen; default rule max'),
    registry: z
      .object({ path: z.string().optional().describe('default <stateDir>/registry'), model: z.string().optional() })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const { strategy, halving } = spec.scaling.grid;
    const max = halving.maxEpochs ?? spec.training.epochs;
    if (strategy === 'halving' && halving.minEpochs > max)
      ctx.addIssue({
        code: 'custom',
        path: ['scaling', 'grid', 'halving', 'minEpochs'],
        message: `the first rung's ${halving.minEpochs} epochs exceed the last rung's ${max} (halving.maxEpochs, else training.epochs)`,
      });
  });
export type SearchSpec = z.infer<typeof SearchSpec>;
export type SearchSpecInput = z.input<typeof SearchSpec>;

/**
 * The epochs each rung of the search trains its candidates to: minEpochs·η^k up to maxEpochs under halving, one
 * rung of training.epochs when exhaustive.
 */
export function rungEpochs(spec: SearchSpec): number[] {
  const { strategy, halving } = spec.scaling.grid;
  if (strategy === 'exhaustive') return [spec.training.epochs];
  const max = halving.maxEpochs ?? spec.training.epochs;
  const rungs: number[] = [];
  for (let e = halving.minEpochs; e < max; e *= halving.eta) rungs.push(e);
  return [...rungs, max];
}

/** A search candidate's training: under halving its learning-rate schedule spans the last rung's epochs. */
export function searchTraining(spec: SearchSpec): SearchSpec['training'] {
  const rungs = rungEpochs(spec);
  return { ...spec.training, epochs: rungs[rungs.length - 1] };
}
