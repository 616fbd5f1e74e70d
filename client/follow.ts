import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure, CancelledFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { chunkProgressQuery, progressQuery, resultQuery } from '../workflows/messages.js';
import { withChunkProgress, type SearchProgress, type SearchResult } from '../search/state.js';
import { readCandidateTable, type CandidateRow } from '../store/candidate-table.js';
import { searchDirOf, readSummary } from '../store/search-dir.js';
import type { SearchHandle } from './search.js';
import type { TrainingHeartbeat } from '../search/types.js';

export interface Outcome {
  result?: SearchResult;
  /** The candidate table, when this machine sees the workers' store (always in single-machine mode). */
  table?: CandidateRow[];
  /** Why the search failed (it may still have a summary of what finished). */
  error?: string;
}

/** The search's progress with the live counts of the chunk it is training now (two queries). */
export async function searchProgress(client: Client, handle: SearchHandle): Promise<SearchProgress> {
  const progress = await handle.query(progressQuery);
  if (!progress.activeChunk) return progress;
  const live = await client.workflow
    .getHandle(progress.activeChunk)
    .query(chunkProgressQuery)
    .catch(() => undefined);
  return live ? withChunkProgress(progress, live) : progress;
}

/** The latest heartbeat of every training running now (the chunk's, or the finalists' in the search). */
export async function runningTrainings(client: Client, progress: SearchProgress, searchId: string) {
  const id = progress.activeChunk ?? searchId;
  const description = await client.workflow.getHandle(id).describe();
  const beats: TrainingHeartbeat[] = [];
  for (const activity of description.raw.pendingActivities ?? []) {
    const [payload] = activity.heartbeatDetails?.payloads ?? [];
    if (payload) beats.push(defaultPayloadConverter.fromPayload<TrainingHeartbeat>(payload));
  }
  return beats;
}

/**
 * Waits for a search to close, reporting progress; a cancelled or failed search yields the summary recorded under
 * `stateDir` (the workers' store: the same directory in single-machine mode, the shared volume on a cluster).
 */
export async function followSearch(
  client: Client,
  handle: SearchHandle,
  onProgress: (p: SearchProgress, running: TrainingHeartbeat[]) => void,
  stateDir: string,
  options: { intervalMs?: number; signal?: AbortSignal } = {},
): Promise<Outcome> {
  const { intervalMs = 2000, signal = new AbortController().signal } = options;
  let settled = false;
  const done = client
    .withAbortSignal(signal, () => handle.result())
    .finally(() => {
      settled = true;
    });
  const poll = (async () => {
    while (!settled && !signal.aborted) {
      try {
        // Under the signal: a query waits for a worker to answer it, and when the session stops, its worker (the
        // one that would answer) is going away; the query would hold the stop until the server gives up on it.
        await client.withAbortSignal(signal, async () => {
          const progress = await searchProgress(client, handle);
          onProgress(progress, await runningTrainings(client, progress, handle.workflowId).catch(() => []));
        });
      } catch {
        // No worker has the workflow yet, it just closed, or we stopped: the next poll (or the result) tells.
      }
      await Promise.race([
        sleep(intervalMs, undefined, { signal }).catch(() => undefined),
        done.catch(() => undefined),
      ]);
    }
  })();
  const searchDir = searchDirOf(stateDir, handle.workflowId);
  try {
    const result = await done;
    return { result, ...(await tableOf(searchDir)) };
  } catch (err) {
    const table = await tableOf(searchDir);
    if (!(err instanceof WorkflowFailedError)) throw err;
    if (err.cause instanceof CancelledFailure) {
      const result = await handle.query(resultQuery).catch(() => readSummary(searchDir));
      return { ...(result && { result: { ...result, status: 'cancelled' as const } }), ...table };
    }
    // A failed search's result travels in its failure's details (the workers' store may be elsewhere).
    const [result] = err.cause instanceof ApplicationFailure ? (err.cause.details ?? []) : [];
    return { ...(result ? { result: result as SearchResult } : {}), ...table, error: rootMessage(err) };
  } finally {
    await poll;
  }
}

async function tableOf(searchDir: string): Promise<{ table?: CandidateRow[] }> {
  const table = await readCandidateTable(searchDir);
  return table ? { table } : {};
}

/** The innermost failure message: "Activity task failed" says less than what the activity threw. */
function rootMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
