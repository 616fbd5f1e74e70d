import { setTimeout as sleep } from 'node:timers/promises';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { Connection } from '@temporalio/client';
import type { Release } from './release.js';

/** The deployment's current version: the build new searches (and searches moved on purpose) start on. */

type WorkflowService = (NativeConnection | Connection)['workflowService'];

const IDENTITY = 'effscale';

/**
 * Sets the current version. Every search queue counts (a session's own queue included), and a queue the new build
 * does not poll yet (another session's) must not block the switch.
 */
export async function setCurrentVersion(service: WorkflowService, namespace: string, release: Release): Promise<void> {
  await service.setWorkerDeploymentCurrentVersion({
    namespace,
    deploymentName: release.deploymentName,
    buildId: release.buildId,
    identity: IDENTITY,
    ignoreMissingTaskQueues: true,
  });
}

/**
 * When a starting worker takes "current": `always` (a session on one machine: its searches must start on it),
 * `when-new` (a cluster's worker: a rollout of a build the server has not seen, or a deployment with no current
 * build; a known build restarting — an evicted pod of the old release — leaves the current one alone), `never`.
 */
export type MakeCurrent = 'always' | 'when-new' | 'never';

export async function takesCurrent(
  service: WorkflowService,
  namespace: string,
  release: Release,
  policy: MakeCurrent,
): Promise<boolean> {
  if (policy !== 'when-new') return policy === 'always';
  const described = await service
    .describeWorkerDeployment({ namespace, deploymentName: release.deploymentName })
    .catch(() => undefined);
  const info = described?.workerDeploymentInfo;
  const current = info?.routingConfig?.currentDeploymentVersion?.buildId;
  if (!current) return true;
  return !(info?.versionSummaries ?? []).some((v) => v.deploymentVersion?.buildId === release.buildId);
}

/**
 * The server accepts a version as current only once it has seen the version's pollers, a second or so after the
 * worker starts: retried in the background until then, for as long as the worker runs.
 */
export function makeCurrentWhenPolling(
  connection: NativeConnection,
  namespace: string,
  release: Release,
  worker: Worker,
  timeoutMs = 60_000,
): void {
  const deadline = Date.now() + timeoutMs;
  const attempt = async (): Promise<void> => {
    for (;;) {
      const state = worker.getState();
      if (state !== 'INITIALIZED' && state !== 'RUNNING') return;
      try {
        await setCurrentVersion(connection.workflowService, namespace, release);
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          const why = err instanceof Error ? err.message : String(err);
          console.error(
            `effscale: could not make build ${release.buildId} the current version of ${release.deploymentName}: ` +
              `${why}; new searches start on the current version (\`effscale versions\`)`,
          );
          return;
        }
      }
      await sleep(500);
    }
  };
  void attempt();
}
