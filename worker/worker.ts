import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type ActivityOptions } from '../activities/index.js';
import { loadKubernetesDefaults } from '../executors/kubernetes/defaults.js';
import { dataConverter } from './codec.js';
import type { ServerConnection } from './connection.js';
import { DEFAULT_NAMESPACE, TASK_QUEUE } from './temporal.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));

/** `stateDir` is the worker's own store (`$EFFSCALE_STATE_DIR` for `effscale worker`), never a client's. */
export interface SearchWorkerOptions extends ActivityOptions {
  server: ServerConnection;
  namespace?: string;
  taskQueue?: string;
  /** A pre-built bundle (tests build it once); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundle;
  /** Concurrent trainings this worker accepts; the workflow's window bounds each search. */
  maxConcurrentTrainings?: number;
  /** How long running trainings may go on after shutdown starts (a session stopped by Ctrl-C: none). */
  shutdownGraceTime?: string;
}

let runtimeInstalled = false;

/** The SDK logs every retried activity at WARN; the CLI reports failures itself, so only errors show. */
export function quietWorkerLogs(
  level: 'ERROR' | 'WARN' | 'INFO' = process.env.EFFSCALE_DEBUG ? 'INFO' : 'ERROR',
): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch {
    // A runtime already exists (a connection was made first): it keeps its logger.
  }
}

/** A worker that runs search workflows and their activities (plan, train, scale, register). */
export async function createSearchWorker(
  options: SearchWorkerOptions,
): Promise<{ worker: Worker; connection: NativeConnection }> {
  // A bad defaults file ($EFFSCALE_KUBERNETES_DEFAULTS) stops the worker now, not each search later.
  loadKubernetesDefaults();
  const connection = await NativeConnection.connect(options.server);
  const worker = await Worker.create({
    connection,
    namespace: options.namespace ?? DEFAULT_NAMESPACE,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath }),
    activities: createActivities(options),
    dataConverter: dataConverter(),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentTrainings ?? 64,
    // Cancellation reaches a training only through a heartbeat: keep the throttle short.
    maxHeartbeatThrottleInterval: '1s',
    defaultHeartbeatThrottleInterval: '1s',
    shutdownGraceTime: options.shutdownGraceTime ?? '5s',
  });
  return { worker, connection };
}
