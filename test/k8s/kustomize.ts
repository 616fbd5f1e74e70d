import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import { k8sBinary } from './cluster.js';

/** `kubectl kustomize DIR`: the objects a user's `kubectl apply -k DIR` would send, as the real kustomize renders them. */
export function renderKustomization(dir: string): KubernetesObject[] {
  const yaml = execFileSync(k8sBinary('kubectl'), ['kustomize', dir], { encoding: 'utf8', stdio: 'pipe' });
  return parseAllDocuments(yaml)
    .map((doc) => doc.toJSON() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null);
}

/** Where `dirname(import.meta.url)` lands once compiled: dist/test/k8s → repository root. */
export function repoRoot(): string {
  return join(dirname(new URL(import.meta.url).pathname), '..', '..', '..');
}
