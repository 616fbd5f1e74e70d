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

export const Targets = z
  .object({
    phis: z.array(z.number().min(0).max(16)).min(1).optional().describe('compound coefficients of the family'),
    multipliers: z.array(z.number().gt(0)).min(1).optional().describe('N× the baseline compute: φ = log2 N'),
    limits: ResourceLimits.optional().describe('the largest φ whose scaled architecture fits these'),
  })
  .strict()
  .refine((t) => t.phis !== undefined || t.multipliers !== undefined || t.limits !== undefined, {
    message: 'give at least one of phis, multipliers or limits',
  });
export type Targets = z.infer<typeof Targets>;

export const Scaling = z
  .object({
    grid: GridOptions.default(() => GridOptions.parse({})).describe(
      'the coefficient search: phi, rule, alpha/beta/gamma {min,max,step}, tolerance, random {count,seed}, limits',
    ),
    targets: Targets.default({ phis: [1] }).describe('the family to produce from the best coefficients'),
  })
  .strict();
export type Scaling = z.infer<typeof Scaling>;

export const Execution = z
  .object({
    executor: z.enum(['local', 'kubernetes']).default('local'),
    parallelism: z.number().int().min(1).max(512).default(2),
    retries: z.number().int().min(0).max(20).default(2).describe('retries of a failed candidate after the first try'),
    failureBudget: z
      .number()
      .int()
      .min(0)
      .default(2)
      .describe('candidates that may fail for good before the search fails'),
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
    local: LocalExecution.default(() => LocalExecution.parse({})),
    kubernetes: KubernetesSettings.optional().describe(
      'pod template and executor settings (spec/kubernetes.ts); the worker fills the rest from EFFSCALE_KUBERNETES_DEFAULTS',
    ),
  })
  .strict();
export type Execution = z.infer<typeof Execution>;

export const Final = z
  .object({
    training: Training.optional().describe('final training budget; default: the search budget'),
    finalists: z.number().int().min(0).default(1).describe('how many family members (largest φ first) to retrain'),
  })
  .strict();
export type Final = z.infer<typeof Final>;

export const SearchSpec = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes, at most 63 characters')
      .describe('search name: part of the workflow id and the registered model name'),
    baseline: BaselineInput.describe(
      'a preset name (micro-28, b0…) or an architecture, optionally `preset:` + overrides',
    ),
    task: Task,
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
    registry: z
      .object({ path: z.string().optional().describe('default <stateDir>/registry'), model: z.string().optional() })
      .strict()
      .default({}),
  })
  .strict();
export type SearchSpec = z.infer<typeof SearchSpec>;
export type SearchSpecInput = z.input<typeof SearchSpec>;
