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

const cache = new Map<string, KubernetesDefaults>();

/** Read once per file: every candidate of every search on this worker gets the same defaults. */
export function loadKubernetesDefaults(file = process.env[DEFAULTS_ENV]): KubernetesDefaults {
  if (!file) return {};
  const cached = cache.get(file);
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
  const defaults = { file, settings: parseSpec(KubernetesSettings, raw ?? {}, `Kubernetes defaults ${file}`) };
  cache.set(file, defaults);
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
