import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { upgradeUpdate } from '../workflows/messages.js';
import type { Stage } from '../search/state.js';
import { hasWorker } from './pollers.js';
import { currentBuild, searchVersion } from './versions.js';

/**
 * `effscale upgrade`: moves a running search from the build it is pinned to onto the deployment's current one. The
 * old build stops the search's trainings (each keeps its checkpoint) and continues it as new on the current build
 * with its state (search/state-version.ts migrates it), so nothing finished is trained again.
 */

export interface Move {
  from: string | null;
  to: string;
  /** The stage the search handed off from; null when it already ran on the current build. */
  stage: Stage | null;
}

export async function upgradeSearch(client: Client, workflowId: string, timeoutMs = 300_000): Promise<Move> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  if (description.status.name !== 'RUNNING')
    throw new Error(
      `search ${workflowId} is ${description.status.name.toLowerCase()}: only a running search moves ` +
        '(a closed one resumes on the current build: `effscale search SPEC`)',
    );
  const to = await currentBuild(client);
  if (!to) throw new Error('the deployment has no current build: start a worker (`effscale worker`) first');
  const from = searchVersion(description).buildId;
  if (from === to) return { from, to, stage: null };
  // The move is the old build's to make: without its workers the update would wait for ever.
  if (from && !(await hasWorker(client, description.taskQueue, from)))
    throw new Error(
      `no worker of build ${from} runs, so search ${workflowId} cannot hand itself over: start one ` +
        '(its Deployment, docs/upgrading.md), then upgrade again',
    );
  const stage = await handle.executeUpdate(upgradeUpdate).catch((err: unknown) => {
    const why = err instanceof Error ? err.message : String(err);
    if (/update.*(not found|unknown|no handler)|unknown update/i.test(why))
      throw new Error(`search ${workflowId} runs on build ${from}, which predates \`effscale upgrade\`: ${why}`);
    throw err;
  });
  await untilOn(client, workflowId, description.runId, to, timeoutMs);
  return { from, to, stage };
}

/** Waits for the search's next run to be on the build (its first task there pins it). */
async function untilOn(client: Client, workflowId: string, runId: string, build: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await client.workflow.getHandle(workflowId).describe();
    if (now.runId !== runId && searchVersion(now).buildId === build) return;
    if (now.runId !== runId && now.status.name !== 'RUNNING')
      throw new Error(`search ${workflowId} closed (${now.status.name.toLowerCase()}) instead of moving`);
    if (Date.now() > deadline)
      throw new Error(`search ${workflowId} has not reached build ${build} after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}
