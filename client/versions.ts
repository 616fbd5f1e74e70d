import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import proto from '@temporalio/proto';
import { DEPLOYMENT_NAME, type Release } from '../worker/release.js';

/**
 * The searches' versions as the server sees them (docs/upgrading.md): which build a search is pinned to, which
 * builds the deployment has, which of them still run searches, and the moves between them.
 */

const { WorkerDeploymentVersionStatus: Status } = proto.temporal.api.enums.v1;
const { VersioningBehavior } = proto.temporal.api.enums.v1;

export interface SearchVersion {
  /** The build the search's current run is on; null for a search no versioned worker has run yet. */
  buildId: string | null;
  behavior: 'pinned' | 'auto-upgrade' | 'unversioned';
  /** Set when an operator moved the search by hand (`effscale search` does when it continues an older one). */
  override: string | null;
}

export function searchVersion(description: WorkflowExecutionDescription): SearchVersion {
  const info = description.raw.workflowExecutionInfo?.versioningInfo;
  const override = info?.versioningOverride?.pinned?.version?.buildId ?? null;
  const behavior =
    info?.behavior === VersioningBehavior.VERSIONING_BEHAVIOR_PINNED
      ? 'pinned'
      : info?.behavior === VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
        ? 'auto-upgrade'
        : 'unversioned';
  return { buildId: override ?? info?.deploymentVersion?.buildId ?? null, behavior, override };
}

export interface DeploymentVersion {
  buildId: string;
  status: 'current' | 'ramping' | 'draining' | 'drained' | 'inactive';
  /** Open workflows (searches and their chunks) pinned to this build. */
  openPinned: number;
  /**
   * Nothing routes to it and nothing runs on it (the server reports it drained, and no open workflow is pinned to
   * it): its workers can be stopped and its Deployment deleted.
   */
  removable: boolean;
}

const STATUS: Record<number, DeploymentVersion['status']> = {
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT]: 'current',
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING]: 'ramping',
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING]: 'draining',
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED]: 'drained',
};

/** The deployment's builds, newest first; empty when no versioned worker has polled yet. */
export async function deploymentVersions(client: Client): Promise<DeploymentVersion[]> {
  const described = await client.workflowService
    .describeWorkerDeployment({ namespace: client.options.namespace, deploymentName: DEPLOYMENT_NAME })
    .catch((err: unknown) => {
      if (/not found/i.test(err instanceof Error ? err.message : String(err))) return undefined;
      throw err;
    });
  const summaries = described?.workerDeploymentInfo?.versionSummaries ?? [];
  const sorted = [...summaries].sort((a, b) => Number(b.createTime?.seconds ?? 0) - Number(a.createTime?.seconds ?? 0));
  const versions: DeploymentVersion[] = [];
  for (const summary of sorted) {
    const buildId = summary.deploymentVersion?.buildId ?? '';
    const status = STATUS[summary.status ?? 0] ?? 'inactive';
    const openPinned = await openPinnedTo(client, buildId);
    // The server's own drainage check waits out visibility's lag; the count alone could miss a search just pinned.
    const drained = status === 'drained' || status === 'inactive';
    versions.push({ buildId, status, openPinned, removable: drained && openPinned === 0 });
  }
  return versions;
}

/** Running workflows of this deployment pinned to the build (visibility: exact, not the server's periodic drainage). */
async function openPinnedTo(client: Client, buildId: string): Promise<number> {
  const query =
    `TemporalWorkerDeploymentVersion = '${DEPLOYMENT_NAME}:${buildId}' ` +
    `AND TemporalWorkflowVersioningBehavior = 'Pinned' AND ExecutionStatus = 'Running'`;
  const { count } = await client.workflow.count(query);
  return count;
}

/** The deployment's current build: where new searches start, and where `effscale upgrade` moves one. */
export async function currentBuild(client: Client): Promise<string | null> {
  const described = await client.workflowService
    .describeWorkerDeployment({ namespace: client.options.namespace, deploymentName: DEPLOYMENT_NAME })
    .catch(() => undefined);
  return described?.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId ?? null;
}

/**
 * Pins an open workflow to another build by hand. Only for histories that build replays (checked by the caller):
 * its workers replay the whole history and go on from there.
 */
export async function pinTo(client: Client, workflowId: string, release: Release): Promise<void> {
  const { VersioningOverride } = proto.temporal.api.workflow.v1;
  // The build may not be registered yet: its worker has just started polling.
  for (let attempt = 0; ; attempt++) {
    try {
      await client.workflowService.updateWorkflowExecutionOptions({
        namespace: client.options.namespace,
        workflowExecution: { workflowId },
        workflowExecutionOptions: {
          versioningOverride: {
            pinned: {
              behavior: VersioningOverride.PinnedOverrideBehavior.PINNED_OVERRIDE_BEHAVIOR_PINNED,
              version: release,
            },
          },
        },
        updateMask: { paths: ['versioning_override'] },
      });
      return;
    } catch (err) {
      if (attempt >= 40) throw err;
      await sleep(250);
    }
  }
}
