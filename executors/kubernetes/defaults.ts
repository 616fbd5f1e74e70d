import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseSpec, SpecError } from '../../scaling/validate.js';
import {
  KubernetesSettings,
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

/** The search spec's `execution.kubernetes` over this worker's defaults, validated as a whole. */
export function kubernetesExecutionFor(search: KubernetesSettingsInput | undefined): KubernetesExecution {
  const defaults = loadKubernetesDefaults();
  return resolveKubernetesExecution(defaults.settings, search, defaults.file);
}
