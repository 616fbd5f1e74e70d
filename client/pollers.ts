import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';

/**
 * Whether any worker polls a search's task queue (one of `buildId`, for a search pinned to it): a running search
 * with none makes no progress, and a command that waits for it says so instead of hanging.
 */
export async function hasWorker(client: Client, taskQueue: string, buildId?: string | null): Promise<boolean> {
  const response = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (response.pollers ?? []).some((p) => !buildId || p.deploymentOptions?.buildId === buildId);
}

/** What a user runs to give a search a worker again. */
export function workerHint(workflowId: string, taskQueue: string): string {
  return taskQueue.endsWith(`/${workflowId}`)
    ? `it runs in the session that started it: continue it with \`effscale search SPEC\` (the same spec file)`
    : `start one with \`effscale dev\` (this machine) or \`effscale worker --address …\` (a cluster)`;
}

/** Waits up to `timeoutMs` for a worker on the queue; false when none came. */
export async function waitForWorker(client: Client, taskQueue: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await hasWorker(client, taskQueue)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(1000);
  }
}
