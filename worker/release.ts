import { createHash } from 'node:crypto';
import type { WorkflowBundle } from '@temporalio/worker';
import { packageVersion } from '../schemas/release.js';

/**
 * Which release of effscale a worker runs, as Temporal's Worker Versioning names it: one deployment (`effscale`)
 * and a build id per release. Search and chunk workflows are pinned to the build that started them, so an upgrade
 * never replays a running search on code it was not written by (docs/upgrading.md).
 *
 * The build id is `$EFFSCALE_BUILD_ID` when set (a cluster's worker Deployment sets it to its image's release tag,
 * k8s/base/worker.yaml), else the package version and a hash of the workflow bundle: any change to workflow code
 * is a new build on a developer's machine too, and the same code is the same build wherever it is bundled.
 */

export const DEPLOYMENT_NAME = 'effscale';

export interface Release {
  deploymentName: string;
  buildId: string;
}

export function releaseOf(bundle: WorkflowBundle, env: NodeJS.ProcessEnv = process.env): Release {
  const given = env.EFFSCALE_BUILD_ID?.trim();
  if (given !== undefined && given !== '') return { deploymentName: DEPLOYMENT_NAME, buildId: checked(given) };
  const hash = createHash('sha256').update(bundle.code).digest('hex').slice(0, 10);
  return { deploymentName: DEPLOYMENT_NAME, buildId: `${packageVersion}-${hash}` };
}

/** Kubernetes names a Deployment per build (`effscale-worker-<build>`): the id must fit a DNS label. */
function checked(buildId: string): string {
  if (!/^[a-z0-9]([a-z0-9.-]{0,40}[a-z0-9])?$/.test(buildId))
    throw new Error(
      `EFFSCALE_BUILD_ID: expected a release tag of lowercase letters, digits, '.' and '-' (at most 42), got "${buildId}"`,
    );
  return buildId;
}

/** The effscale release a build id names (`0.2.0-3f9c0a1b2c` → `0.2.0`; a cluster's build id is its release). */
export function releaseOfBuild(buildId: string): string {
  return buildId.replace(/-[0-9a-f]{10}$/, '');
}
