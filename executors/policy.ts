import { readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { parseSpec, SpecError } from '../scaling/validate.js';
import { GPU_RESOURCE, type KubernetesExecution, type KubernetesSettingsInput } from '../schemas/kubernetes.js';
import { OperatorPolicy, type ExecutionProfile } from '../schemas/policy.js';
import type { Execution, SearchSpec } from '../schemas/search.js';
import { quantityValue } from './kubernetes/quantity.js';

/** The operator policy file (schemas/policy.ts): read once per file, like the Kubernetes defaults. */
export const POLICY_ENV = 'EFFSCALE_POLICY';

const cache = new Map<string, OperatorPolicy>();

export function loadPolicy(file = process.env[POLICY_ENV]): OperatorPolicy | undefined {
  if (!file) return undefined;
  const cached = cache.get(file);
  if (cached) return cached;
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SpecError(`${POLICY_ENV}=${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const policy = parseSpec(OperatorPolicy, raw ?? {}, `operator policy ${file}`);
  cache.set(file, policy);
  return policy;
}

/** The local executor runs trainers inside the worker: refused unless the operator allows it. */
export function admitLocal(execution: Execution, policy: OperatorPolicy): void {
  const issues: string[] = [];
  if (!policy.local.allowed)
    issues.push(
      'execution.executor: local: this worker trains only on Kubernetes (the operator policy allows no local trainings)',
    );
  else if (execution.local.trainer && !policy.local.trainerCommand)
    issues.push('execution.local.trainer: the operator policy allows no trainer command of a search spec');
  if (issues.length) throw new SpecError(issues.join('\n'), issues);
}

/** The profile a spec asks for (execution.profile), or the policy's default. */
export function profileOf(
  policy: OperatorPolicy,
  name: string | undefined,
): { name: string; profile: ExecutionProfile } {
  const chosen = name ?? policy.defaultProfile;
  const profile = policy.profiles[chosen];
  if (!profile)
    throw new SpecError(
      `execution.profile: no profile "${chosen}" on this worker (it has: ${Object.keys(policy.profiles).join(', ')})`,
    );
  return { name: chosen, profile };
}

/**
 * Fields a spec may set freely: they decide when the executor gives up or cleans up, never what runs or where.
 * The ones checked below may be narrowed; every other field must be left out or equal the profile's.
 */
const FREE = [
  'heartbeatSeconds',
  'unschedulableTimeoutSeconds',
  'imagePullTimeoutSeconds',
  'activeDeadlineSeconds',
  'watchTimeoutSeconds',
  'cleanup',
  'noop',
  'nodeLoss.tolerationSeconds',
  'nodeLoss.silentSeconds',
];

/**
 * Checks a spec's `execution.kubernetes` against its profile (`base`: the profile's own settings, resolved): it may
 * choose an allowed image, fewer resources, a smaller GPU quota and its own dataset subPath. Throws a SpecError
 * naming every field it may not set.
 */
export function checkNarrowing(
  search: KubernetesSettingsInput,
  base: KubernetesExecution,
  { name, profile }: { name: string; profile: ExecutionProfile },
): void {
  const issues: string[] = [];
  const refuse = (path: string, why: string) => issues.push(`execution.kubernetes.${path}: ${why}`);
  for (const [keys, value] of leaves(search)) {
    const path = keys.join('.');
    if (FREE.some((free) => path === free || path.startsWith(`${free}.`))) continue;
    const resource =
      keys[0] === 'resources' && keys.length === 3 ? (keys as ['resources', 'requests' | 'limits', string]) : undefined;
    if (path === 'image') {
      if (!imageAllowed(String(value), base.image, profile.images))
        refuse(
          path,
          `${String(value)} is not an image the profile "${name}" allows (${[base.image, ...profile.images].join(', ')})`,
        );
    } else if (resource) {
      const [, kind, key] = resource;
      const max = (profile.maxResources?.[kind] ?? base.resources[kind])[key];
      if (max === undefined) refuse(path, `the profile "${name}" allows no ${kind} of ${key}`);
      else if (quantityValue(String(value)) > quantityValue(max))
        refuse(path, `${String(value)} is more than the profile "${name}" allows (${max})`);
    } else if (path === 'gpuQuota') {
      const most = gpuQuotaOf(base, profile);
      if (most !== undefined && Number(value) > most)
        refuse(path, `${String(value)} pods is more than the profile "${name}" allows (${most})`);
    } else if (path === 'volumes.dataset.subPath') {
      if (!profile.datasetSubPath) refuse(path, `the profile "${name}" fixes the dataset volume's subPath`);
      else if (!isRelativeInside(String(value))) refuse(path, 'expected a relative path inside the dataset volume');
    } else if (!isDeepStrictEqual(value, valueAt(base, keys))) {
      const own = JSON.stringify(valueAt(base, keys)) ?? 'nothing';
      refuse(path, `the profile "${name}" sets ${own}; a search may not change it`);
    }
  }
  if (issues.length) throw new SpecError(issues.join('\n'), issues);
}

/** The executor's GPU quota in pods: the profile's GPUs over the GPUs one pod takes (none: no GPU limit). */
export function gpuQuotaOf(execution: KubernetesExecution, profile: ExecutionProfile): number | undefined {
  const perPod = quantityValue(execution.resources.limits[GPU_RESOURCE] ?? '0');
  const fromGpus =
    profile.maxGpus !== undefined && perPod > 0 ? Math.max(1, Math.floor(profile.maxGpus / perPod)) : undefined;
  if (fromGpus === undefined) return execution.gpuQuota;
  return Math.min(fromGpus, execution.gpuQuota ?? Infinity);
}

function imageAllowed(image: string, own: string, allowed: readonly string[]): boolean {
  return image === own || allowed.some((a) => (a.endsWith('/*') ? image.startsWith(a.slice(0, -1)) : image === a));
}

function isRelativeInside(path: string): boolean {
  return path !== '' && !path.startsWith('/') && !path.split('/').includes('..');
}

/** Every leaf of a settings layer with its keys (arrays are leaves: a spec's list replaces the profile's). */
function leaves(value: unknown, keys: string[] = []): [string[], unknown][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return keys.length ? [[keys, value]] : [];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, [...keys, k]));
}

function valueAt(value: unknown, keys: readonly string[]): unknown {
  let v = value;
  for (const k of keys) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/**
 * The worker's paths a spec names must be inside the operator's roots: a registry of another team, or a dataset
 * folder outside the shared datasets, is refused. Without `roots.registry` a spec may not name a registry path at
 * all (the worker's own registry is used).
 */
export function admitPaths(spec: SearchSpec, policy: OperatorPolicy): void {
  const issues: string[] = [];
  const check = (field: string, path: string | undefined, roots: readonly string[] | undefined, what: string) => {
    if (path === undefined || roots === undefined) return;
    if (!roots.some((root) => isInside(resolve(path), root)))
      issues.push(`${field}: ${path} is outside the ${what} this worker allows (${roots.join(', ') || 'none'})`);
  };
  check('registry.path', spec.registry.path, policy.roots.registry ?? [], 'registries');
  const dataset = spec.task.dataset as Partial<Record<'path' | 'valPath' | 'root' | 'valRoot', string>>;
  for (const key of ['path', 'valPath', 'root', 'valRoot'] as const)
    check(`task.dataset.${key}`, dataset[key], policy.roots.datasets, 'dataset folders');
  if (issues.length) throw new SpecError(issues.join('\n'), issues);
}

function isInside(path: string, root: string): boolean {
  const rel = relative(resolve(root), path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}
