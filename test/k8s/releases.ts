import { cpSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageVersion } from '../../schemas/release.js';
import { repoRoot } from './kustomize.js';

/**
 * k8s/ is one effscale release: its worker Deployment and trainer-execution ConfigMap carry the release (package.json's
 * version) in their names, the `effscale.dev/release` label and the images' tags, and the worker's build id is the
 * release; everything else is shared by every release (docs/kubernetes.md, Releases side by side).
 */

export const RELEASE_LABEL = 'effscale.dev/release';

export const workerDeployment = (release: string) => `effscale-worker-${release}`;
export const trainerExecution = (release: string) => `effscale-trainer-execution-${release}`;

/** The repository's k8s/ directory, with its files. */
export function k8sFiles(dir = join(repoRoot(), 'k8s')): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

/**
 * The k8s/ directory another release would ship: the repository's, with this release's version replaced by
 * `release` in every file — what a release bump does, nothing more (the manifests test holds k8s/ to one version).
 * Returns the copy's k8s/ directory; `release` equal to this one's is the repository's own.
 */
export function k8sOfRelease(work: string, release: string): string {
  const source = join(repoRoot(), 'k8s');
  if (release === packageVersion) return source;
  const target = join(work, `k8s-${release}`, 'k8s');
  cpSync(source, target, { recursive: true });
  for (const file of k8sFiles(target)) {
    writeFileSync(file, readFileSync(file, 'utf8').split(packageVersion).join(release));
  }
  return target;
}

/** Whether a Deployment's `matchLabels` selects a pod with these labels. */
export function selects(matchLabels: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(matchLabels).every(([k, v]) => labels[k] === v);
}
