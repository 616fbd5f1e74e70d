import { hostname } from 'node:os';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { processAlive } from '../executors/process.js';
import { TRAINING_INTERRUPTED } from '../search/errors.js';
import { createSearchWorker, quietWorkerLogs } from '../worker/worker.js';
import type { SearchProgress } from '../search/state.js';
import { adoptSearch } from './adopt.js';
import { followSearch, type Outcome } from './follow.js';
import type { Attached } from './search.js';
import type { Session } from './session.js';
import type { TrainingHeartbeat } from '../search/types.js';

/**
 * A search run in the foreground of this process (single-machine mode): this session's worker polls the search's
 * own task queue, so it never takes another search's work; Ctrl-C (or SIGTERM, or closing the terminal) stops
 * launching, stops this session's trainers (their checkpoints kept) and leaves the search resumable.
 */

export interface ForegroundOutcome extends Outcome {
  /** The signal that stopped the session before the search closed. */
  interrupted?: NodeJS.Signals;
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export async function runInForeground(
  session: Session,
  attached: Attached,
  onProgress: (p: SearchProgress, running: TrainingHeartbeat[]) => void,
): Promise<ForegroundOutcome> {
  quietWorkerLogs();
  // Listening first: a Ctrl-C while the worker starts must not kill the process halfway either.
  let interrupted: NodeJS.Signals | undefined;
  const stopped = new Promise<null>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (interrupted) {
        console.error('effscale: stopping now; trainers still running are stopped by the next session');
        process.exit(130);
      }
      interrupted = signal;
      console.error(`effscale: stopping this session's trainings (${signal}; press Ctrl-C again to force)`);
      resolve(null);
    };
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
  });
  try {
    await rescheduleDeadAttempts(session.client, attached.workflowId);
    const { worker, connection, release, workflowBundle } = await createSearchWorker({
      server: session.serverConnection,
      namespace: session.namespace,
      stateDir: session.stateDir,
      taskQueue: attached.taskQueue,
      shutdownGraceTime: '0s',
      // The session's searches start on its own build: it is the one polling their queue.
      makeCurrent: 'always',
    });
    const running = worker.run();
    try {
      const movedFrom = await adoptSearch(session.client, attached.workflowId, release, workflowBundle);
      if (movedFrom)
        console.error(`effscale: continuing ${attached.workflowId} (build ${movedFrom}) on build ${release.buildId}`);
      if (interrupted) return { interrupted };
      const following = new AbortController();
      const followed = followSearch(session.client, attached.handle, onProgress, session.stateDir, {
        signal: following.signal,
      });
      const outcome = await Promise.race([followed, stopped]);
      if (outcome) return outcome;
      following.abort();
      await followed.catch(() => undefined);
      return { interrupted };
    } finally {
      // The SDK's own signal handlers may have started the shutdown already.
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
    }
  } finally {
    for (const s of STOP_SIGNALS) process.removeAllListeners(s);
  }
}

/**
 * Attempts held by a worker of this machine whose process is gone (a session killed with SIGKILL) would block
 * their trainings until the heartbeat timeout; failing them as interrupted gets them trained again at once.
 */
async function rescheduleDeadAttempts(client: Client, workflowId: string): Promise<void> {
  // describe, not a query: a query waits for a worker, and this session's is not up yet.
  const search = await client.workflow
    .getHandle(workflowId)
    .describe()
    .catch(() => undefined);
  const chunks = (search?.raw.pendingChildren ?? []).flatMap((c) => (c.workflowId ? [c.workflowId] : []));
  for (const id of [workflowId, ...chunks]) {
    const description = await client.workflow
      .getHandle(id)
      .describe()
      .catch(() => undefined);
    if (description?.status.name !== 'RUNNING') continue;
    for (const activity of description.raw.pendingActivities ?? []) {
      const owner = deadLocalWorker(activity.lastWorkerIdentity ?? '');
      if (owner === undefined || !activity.activityId) continue;
      const failure = ApplicationFailure.retryable(
        `its session (pid ${owner}) is gone; trained again from its checkpoint`,
        TRAINING_INTERRUPTED,
      );
      await client.activity
        .fail({ workflowId: id, runId: description.runId, activityId: activity.activityId }, failure)
        .catch(() => undefined); // it may have just finished or been retried
    }
  }
}

/** A worker identity (`pid@host`, the SDK's default) of this machine whose process is no longer alive. */
function deadLocalWorker(identity: string): number | undefined {
  const match = /^(\d+)@(.+)$/.exec(identity);
  if (!match || match[2] !== hostname()) return undefined;
  const pid = Number(match[1]);
  return processAlive(pid) ? undefined : pid;
}
