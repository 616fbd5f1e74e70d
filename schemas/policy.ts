import { z } from 'zod';
import { KubernetesSettings, Resources } from './kubernetes.js';

/**
 * The operator's word on what searches may run on a worker (`EFFSCALE_POLICY`, a ConfigMap in k8s/): on a
 * cluster that several teams share, a search spec is input from a user, not configuration. A spec picks a profile
 * (`execution.profile`) and may only narrow it; anything else is refused at plan time, before a pod exists, with
 * the field named (executors/policy.ts). Without a policy file the worker trusts its specs (one machine, one team).
 */

const absolutePath = z.string().startsWith('/', 'expected an absolute path');

export const ExecutionProfile = z
  .object({
    description: z.string().optional(),
    kubernetes: KubernetesSettings.default({}).describe(
      "the pod template of this profile's searches, over the worker's defaults (EFFSCALE_KUBERNETES_DEFAULTS): " +
        'namespace, ServiceAccount, volumes, node selector, tolerations, priority class…',
    ),
    images: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'trainer images a spec may choose besides the profile\'s own: exact references (by digest: "repo@sha256:…"), ' +
          'or a repository prefix ending in "/*"',
      ),
    maxResources: Resources.partial()
      .optional()
      .describe("the most a spec may ask of each resource (default: the profile's own resources)"),
    maxGpus: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe("GPUs this profile's trainer pods may hold at once in its namespace: the executor's GPU quota"),
    datasetSubPath: z
      .boolean()
      .default(true)
      .describe('a spec may pick its own subPath of the dataset volume (execution.kubernetes.volumes.dataset.subPath)'),
  })
  .strict();
export type ExecutionProfile = z.infer<typeof ExecutionProfile>;

export const OperatorPolicy = z
  .object({
    local: z
      .object({
        allowed: z
          .boolean()
          .default(false)
          .describe('searches may train in the worker process itself (execution.executor: local)'),
        trainerCommand: z
          .boolean()
          .default(false)
          .describe('a spec may name its own trainer command (execution.local.trainer): any program in the worker'),
      })
      .strict()
      .default({ allowed: false, trainerCommand: false }),
    defaultProfile: z.string().min(1).default('default').describe('the profile of a spec that names none'),
    roots: z
      .object({
        registry: z
          .array(absolutePath)
          .optional()
          .describe("folders a spec's registry.path must be inside (default: the worker's own registry only)"),
        datasets: z
          .array(absolutePath)
          .optional()
          .describe("folders a spec's dataset paths (task.dataset.path, valPath, root, valRoot) must be inside"),
      })
      .strict()
      .default({}),
    profiles: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'profile names: a-z, 0-9, -'), ExecutionProfile),
  })
  .strict()
  .refine((p) => p.defaultProfile in p.profiles, {
    message: 'defaultProfile must name one of the profiles',
    path: ['defaultProfile'],
  });
export type OperatorPolicy = z.infer<typeof OperatorPolicy>;
