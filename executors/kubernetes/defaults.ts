import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseSpec, SpecError } from '../../scaling/validate.js';
import type { Execution } from '../../schemas/search.js';
import { checkNarrowing, gpuQuotaOf, loadPolicy, profileOf } from '../policy.js';
import {
  KubernetesSettings,
  mergeSettings,
  resolveKubernetesExecution,
  type KubernetesExecution,
  type KubernetesSettingsInput,
} from '../../schemas/kubernetes.js';

/** The worker's `execution.kubernetes` defaults: a YAML file (the ConfigMap the k8s/ Deployment mounts). */
export const DEFAULTS_ENV = 'EFFSCALE_KUBERNETES_DEFAULTS';

export interface KubernetesDefaults {
  file?: string;
  settings?: KubernetesSettingsInput;
}

/** A pod's own namespace, as every pod with a ServiceAccount token has it mounted. */
export const POD_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * A worker in a pod launches its trainers in its own namespace unless its defaults name another: one team's
 * overlay of k8s/ (a namespace per team) then needs no copy of the trainer template.
 */
function ownNamespace(namespaceFile: string): KubernetesSettingsInput {
  try {
    const namespace = readFileSync(namespaceFile, 'utf8').trim();
    return namespace ? { namespace } : {};
  } catch {
    return {};
  }
}

const cache = new Map<string, KubernetesDefaults>();

/** Read once per file: every candidate of every search on this worker gets the same defaults. */
export function loadKubernetesDefaults(
  file = process.env[DEFAULTS_ENV],
  namespaceFile = POD_NAMESPACE_FILE,
): KubernetesDefaults {
  const own = ownNamespace(namespaceFile);
  if (!file) return Object.keys(own).length ? { settings: own } : {};
  const key = `${file}\0${namespaceFile}`;
  const cached = cache.get(key);
  if (cached) return cached;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new SpecError(`${DEFAULTS_ENV}=${file}: cannot read the file (expected YAML execution.kubernetes defaults)`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new SpecError(`${DEFAULTS_ENV}=${file}: not valid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  const settings = { ...own, ...parseSpec(KubernetesSettings, raw ?? {}, `Kubernetes defaults ${file}`) };
  const defaults = { file, settings };
  cache.set(key, defaults);
  return defaults;
}

/**
 * The search spec's `execution.kubernetes` over this worker's defaults, validated as a whole. Under an operator
 * policy the spec's profile goes between the two, and the spec may only narrow it (executors/policy.ts).
 */
export function kubernetesExecutionFor(execution: Execution, policy = loadPolicy()): KubernetesExecution {
  const defaults = loadKubernetesDefaults();
  if (!policy) return resolveKubernetesExecution(defaults.settings, execution.kubernetes, defaults.file);
  const chosen = profileOf(policy, execution.profile);
  const source = `${defaults.file ?? 'no defaults file'} and the profile "${chosen.name}"`;
  const base = mergeSettings(defaults.settings ?? {}, chosen.profile.kubernetes) as KubernetesSettingsInput;
  const own = resolveKubernetesExecution(base, {}, source);
  checkNarrowing(execution.kubernetes ?? {}, own, chosen);
  const resolved = resolveKubernetesExecution(base, execution.kubernetes, source);
  return { ...resolved, gpuQuota: gpuQuotaOf(resolved, chosen.profile) };
}
