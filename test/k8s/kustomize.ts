import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';

/**
 * The part of kustomize that k8s/ uses (`kubectl kustomize` is not available here): `resources` (files and
 * directories), `namespace`, and `patches` with a path, merged into the object of the same kind and name (maps
 * merge key by key, everything else is replaced). Enough to render the base and the GPU overlay for validation.
 */

type Json = Record<string, unknown>;

const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function merge(target: Json, patch: Json): Json {
  const out: Json = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    out[key] = isMap(value) && isMap(out[key]) ? merge(out[key] as Json, value) : value;
  }
  return out;
}

function readYamlObjects(file: string): KubernetesObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => doc.toJSON() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null);
}

export function renderKustomization(dir: string): KubernetesObject[] {
  const file = join(dir, 'kustomization.yaml');
  const [kustomization] = readYamlObjects(file) as unknown as {
    namespace?: string;
    resources?: string[];
    patches?: { path: string }[];
  }[];
  if (!kustomization) throw new Error(`${file} is empty`);
  let objects: KubernetesObject[] = [];
  for (const resource of kustomization.resources ?? []) {
    const path = join(dir, resource);
    objects = objects.concat(statSync(path).isDirectory() ? renderKustomization(path) : readYamlObjects(path));
  }
  for (const { path } of kustomization.patches ?? []) {
    for (const patch of readYamlObjects(join(dir, path))) {
      const index = objects.findIndex((o) => o.kind === patch.kind && o.metadata?.name === patch.metadata?.name);
      if (index < 0) throw new Error(`${join(dir, path)}: no ${patch.kind} ${patch.metadata?.name} to patch`);
      objects[index] = merge(objects[index] as Json, patch as Json) as KubernetesObject;
    }
  }
  const namespace = kustomization.namespace;
  if (namespace) {
    objects = objects.map((o) => (o.kind === 'Namespace' ? o : { ...o, metadata: { ...o.metadata, namespace } }));
  }
  return objects;
}

/** Where `dirname(import.meta.url)` lands once compiled: dist/test/k8s → repository root. */
export function repoRoot(): string {
  return join(dirname(new URL(import.meta.url).pathname), '..', '..', '..');
}
