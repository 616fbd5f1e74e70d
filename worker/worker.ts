import { fileURLToPath } from 'node:url';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type WorkflowBundle,
} from '@temporalio/worker';
import { createActivities, type ActivityOptions } from '../activities/index.js';
import { loadKubernetesDefaults } from '../executors/kubernetes/defaults.js';
import { loadPolicy } from '../executors/policy.js';
import { dataConverter } from './codec.js';
import type { ServerConnection } from './connection.js';
import { releaseOf, type Release } from './release.js';
import { DEFAULT_NAMESPACE, TASK_QUEUE } from './temporal.js';
import { makeCurrentWhenPolling, takesCurrent, type MakeCurrent } from './versions.js';

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
  /**
   * Whether this worker's build becomes the deployment's current version once it polls, where new searches start
   * (searches of earlier builds stay pinned to theirs): worker/versions.ts, default `when-new`.
   */
  makeCurrent?: MakeCurrent;
}

export interface SearchWorker {
  worker: Worker;
  connection: NativeConnection;
  release: Release;
  /** The workflow code this worker runs: what a search's history must replay on before it is moved here. */
  workflowBundle: WorkflowBundle;
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

/**
 * A worker that runs search workflows and their activities (plan, train, scale, register), versioned: the searches
 * it starts are pinned to its build (worker/release.ts).
 */
export async function createSearchWorker(options: SearchWorkerOptions): Promise<SearchWorker> {
  // A bad defaults or policy file ($EFFSCALE_KUBERNETES_DEFAULTS, $EFFSCALE_POLICY) stops the worker now, not each
  // search later.
  loadKubernetesDefaults();
  loadPolicy();
  const workflowBundle =
    options.workflowBundle ?? (await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('ERROR') }));
  const release = releaseOf(workflowBundle);
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const connection = await NativeConnection.connect(options.server);
  // Decided before this worker polls: polling registers its build with the server.
  const current = await takesCurrent(connection.workflowService, namespace, release, options.makeCurrent ?? 'when-new');
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    workflowBundle,
    workerDeploymentOptions: {
      useWorkerVersioning: true,
      version: release,
      defaultVersioningBehavior: 'PINNED',
    },
    activities: createActivities(options),
    dataConverter: dataConverter(),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentTrainings ?? 64,
    // Cancellation reaches a training only through a heartbeat: keep the throttle short.
    maxHeartbeatThrottleInterval: '1s',
    defaultHeartbeatThrottleInterval: '1s',
    shutdownGraceTime: options.shutdownGraceTime ?? '5s',
  });
  if (current) makeCurrentWhenPolling(connection, namespace, release, worker);
  return { worker, connection, release, workflowBundle };
}
