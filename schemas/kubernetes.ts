import { z } from 'zod';
import { TRAINER_IMAGE_COMMAND } from './trainer-process.js';
import { parseSpec } from '../scaling/validate.js';

/**
 * `execution.kubernetes` of a search spec: how the Kubernetes executor turns one candidate into one pod.
 * Everything here ends up in the pod (or decides when the executor gives up on it); nothing cluster-wide.
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Kubernetes resource quantity (`500m`, `2Gi`, `1`, `1e3`). */
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$/;
/** Label keys/resource names: optional DNS prefix + `/` + name (`nvidia.com/gpu`, `kubernetes.io/arch`). */
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

const dnsLabel = (what: string) =>
  z
    .string()
    .max(63)
    .regex(DNS1123_LABEL, `${what} must be a DNS-1123 label (lower-case letters, digits, '-'; ≤ 63 characters)`);
const dnsSubdomain = (what: string) =>
  z.string().max(253).regex(DNS1123_SUBDOMAIN, `${what} must be a DNS-1123 subdomain`);
const quantity = z.string().regex(QUANTITY, 'expected a Kubernetes quantity such as "500m", "2Gi" or "1"');
const resourceList = z.record(
  z.string().regex(QUALIFIED_NAME, 'expected a resource name such as "nvidia.com/gpu"'),
  quantity,
);

export const GPU_RESOURCE = 'nvidia.com/gpu';

export const Resources = z
  .object({
    requests: resourceList.default({ cpu: '1', memory: '2Gi' }),
    limits: resourceList.default({ memory: '4Gi' }),
  })
  .strict()
  .describe(`container resources; put "${GPU_RESOURCE}" in limits to request GPUs (requests get the same count)`);
export type Resources = z.infer<typeof Resources>;

export const Toleration = z
  .object({
    key: z.string().regex(QUALIFIED_NAME).optional(),
    operator: z.enum(['Exists', 'Equal']).default('Equal'),
    value: z.string().optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.number().int().min(0).optional(),
  })
  .strict();
export type Toleration = z.infer<typeof Toleration>;

/**
 * A PersistentVolumeClaim mounted into the trainer pod. `localPath` is where the *worker* sees the same storage
 * (it writes the candidate spec there and reads artifacts back); it defaults to `mountPath`, which is how the
 * worker Deployment in k8s/ mounts it.
 */
export const ClaimVolume = z
  .object({
    claimName: dnsSubdomain('claimName'),
    mountPath: z.string().startsWith('/', 'mountPath must be absolute'),
    subPath: z.string().optional(),
    readOnly: z.boolean().default(false),
    localPath: z.string().startsWith('/', 'localPath must be absolute').optional(),
  })
  .strict();
export type ClaimVolume = z.infer<typeof ClaimVolume>;

/**
 * How soon a trainer on a lost node is given up and trained elsewhere (docs/kubernetes.md, "Disruptions"). The
 * default 300 s of Kubernetes' own tolerations would leave a GPU's training in limbo for minutes.
 */
export const NodeLossPolicy = z
  .object({
    tolerationSeconds: z
      .number()
      .int()
      .min(0)
      .default(30)
      .describe('the trainer pods tolerate a not-ready or unreachable node this long, then the cluster evicts them'),
    silentSeconds: z
      .number()
      .min(1)
      .default(60)
      .describe('a pod the cluster marks not ready whose trainer has said nothing this long is lost'),
    forceDelete: z
      .boolean()
      .default(false)
      .describe(
        'delete a lost pod at once (grace period 0) instead of waiting for its node to confirm: the operator ' +
          'vouches that a lost node cannot come back with the trainer still writing',
      ),
  })
  .strict();
export type NodeLossPolicy = z.infer<typeof NodeLossPolicy>;

export const CleanupPolicy = z
  .object({
    deleteSucceeded: z.boolean().default(true).describe('delete a pod once its result has been read'),
    keepFailedMinutes: z
      .number()
      .min(0)
      .default(60)
      .describe(
        "failed pods stay this long for `kubectl describe`/logs, then the worker's periodic sweep deletes them",
      ),
  })
  .strict();
export type CleanupPolicy = z.infer<typeof CleanupPolicy>;

export const KubernetesExecution = z
  .object({
    kubeconfig: z.string().optional().describe('kubeconfig file; else $KUBECONFIG, ~/.kube/config or in-cluster'),
    context: z.string().optional().describe('kubeconfig context; else the current one'),
    namespace: dnsLabel('namespace').default('effscale'),
    image: z.string().min(1).describe('trainer image, e.g. registry.example.com/effscale-trainer:0.2.0'),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    imagePullSecrets: z.array(dnsSubdomain('imagePullSecrets[]')).default([]),
    serviceAccountName: dnsSubdomain('serviceAccountName').default('effscale-trainer'),
    command: z
      .array(z.string().min(1))
      .min(1)
      .default(TRAINER_IMAGE_COMMAND)
      .describe('trainer entry point; the executor appends the trainer arguments (schemas/trainer-process.ts)'),
    noop: z.boolean().default(false).describe('pass --noop to the trainer: synthetic scores, no training (tests)'),
    resources: Resources.default({ requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '4Gi' } }),
    nodeSelector: z.record(z.string().regex(QUALIFIED_NAME), z.string().max(63)).default({}),
    tolerations: z.array(Toleration).default([]),
    priorityClassName: dnsSubdomain('priorityClassName').optional(),
    env: z.record(z.string().regex(ENV_NAME, 'expected an environment variable name'), z.string()).default({}),
    volumes: z
      .object({
        artifacts: ClaimVolume.describe('shared store: candidate specs in, results and models out'),
        dataset: ClaimVolume.optional().describe('datasets, usually mounted read-only'),
      })
      .strict(),
    runAsUser: z.number().int().min(1, 'the trainer runs as non-root: runAsUser must be ≥ 1').default(1000),
    fsGroup: z.number().int().min(1).default(1000),
    gpuQuota: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('never more effscale pods pending or running in the namespace than this'),
    unschedulableTimeoutSeconds: z.number().min(1).default(600),
    imagePullTimeoutSeconds: z.number().min(1).default(300),
    activeDeadlineSeconds: z.number().int().min(1).optional().describe('hard limit on one training pod'),
    watchTimeoutSeconds: z.number().int().min(1).default(240).describe('server-side watch timeout; then re-watch'),
    heartbeatSeconds: z
      .number()
      .min(0.1)
      .default(10)
      .describe('how often the training activity heartbeats its latest progress while a pod runs'),
    cleanup: CleanupPolicy.default({ deleteSucceeded: true, keepFailedMinutes: 60 }),
    nodeLoss: NodeLossPolicy.default(() => NodeLossPolicy.parse({})),
    tmpSizeLimit: quantity
      .default('8Gi')
      .describe("the trainer pod's /tmp (the dataset cache): evicted past this instead of filling the node's disk"),
  })
  .strict();
export type KubernetesExecution = z.infer<typeof KubernetesExecution>;
export type KubernetesExecutionInput = z.input<typeof KubernetesExecution>;

type DeepPartial<T> = T extends unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type KubernetesSettingsInput = DeepPartial<KubernetesExecutionInput>;

/** The same fields with every default and requirement lifted, nested objects included: a layer to merge. */
function layerOf(schema: z.ZodType): z.ZodType {
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional) return layerOf(schema.unwrap() as z.ZodType);
  if (schema instanceof z.ZodObject) {
    const shape = schema.shape as Record<string, z.ZodType>;
    return z.strictObject(Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, layerOf(v).optional()])));
  }
  return schema;
}

/**
 * `execution.kubernetes` as a search spec (or the worker's defaults file) gives it: any subset of
 * `KubernetesExecution`, each field checked as there. The worker completes it with its defaults
 * (`EFFSCALE_KUBERNETES_DEFAULTS`, the ConfigMap k8s/ mounts) and validates the whole.
 */
export const KubernetesSettings = layerOf(KubernetesExecution) as z.ZodType<KubernetesSettingsInput>;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge key by key (so `resources.limits` adds a GPU to the default memory limit); arrays and values replace. */
export function mergeSettings(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) merged[key] = mergeSettings(base[key], value);
  return merged;
}

/**
 * The executor's settings for one search: the worker's defaults under the spec's own `execution.kubernetes`,
 * validated as a whole (a SpecError names each bad field as `execution.kubernetes.<path>`).
 */
export function resolveKubernetesExecution(
  defaults: KubernetesSettingsInput | undefined,
  search: KubernetesSettingsInput | undefined,
  defaultsSource?: string,
): KubernetesExecution {
  const source = defaultsSource
    ? `execution.kubernetes (the search spec's, over the worker defaults in ${defaultsSource})`
    : 'execution.kubernetes of the search spec';
  return parseSpec(KubernetesExecution, mergeSettings(defaults ?? {}, search ?? {}), source, 'execution.kubernetes');
}
