import { Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { releaseOfBuild, type Release } from '../worker/release.js';
import { pinTo, searchVersion } from './versions.js';

/**
 * A session continues a search an earlier session started, perhaps with another effscale build: on one machine the
 * old build is gone once effscale was upgraded, so its search is moved to this build, but only after its history
 * (and its running chunk's) replayed on this build's workflow code. A history that does not replay is refused,
 * with the way out.
 */
export async function adoptSearch(
  client: Client,
  workflowId: string,
  release: Release,
  workflowBundle: WorkflowBundle,
): Promise<string | null> {
  const search = await client.workflow.getHandle(workflowId).describe();
  const from = searchVersion(search).buildId;
  if (search.status.name !== 'RUNNING' || from === null || from === release.buildId) return null;
  const chunks = (search.raw.pendingChildren ?? []).flatMap((c) => (c.workflowId ? [c.workflowId] : []));
  const ids = [workflowId, ...chunks];
  for (const id of ids) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    try {
      await Worker.runReplayHistory({ workflowBundle }, history, id);
    } catch (err) {
      throw new Error(
        `search ${workflowId} runs on effscale build ${from}, and this build (${release.buildId}) cannot continue ` +
          `it: its history does not replay here (${err instanceof Error ? err.message : String(err)}). ` +
          `Continue it with effscale ${releaseOfBuild(from)}, then upgrade.`,
      );
    }
  }
  for (const id of ids) await pinTo(client, id, release);
  return from;
}
