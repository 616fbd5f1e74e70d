import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import { chunkProgressQuery, progressQuery } from '../workflows/messages.js';
import { withChunkProgress, type SearchProgress, type SearchResult } from '../workflows/state.js';
import { readCandidateTable, type CandidateRow } from '../activities/candidate-table.js';
import { readSummary } from '../activities/register.js';
import { searchDirOf } from '../activities/search-dir.js';
import type { SearchHandle } from './client.js';

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

/**
 * Waits for a search to close, reporting progress; a cancelled or failed search yields the summary recorded under
 * `stateDir` (the workers' store: the same directory in single-machine mode, the shared volume on a cluster).
 */
export async function followSearch(
  client: Client,
  handle: SearchHandle,
  onProgress: (p: SearchProgress) => void,
  stateDir: string,
  intervalMs = 2000,
): Promise<Outcome> {
  let settled = false;
  const done = handle.result().finally(() => {
    settled = true;
  });
  const poll = (async () => {
    while (!settled) {
      try {
        onProgress(await searchProgress(client, handle));
      } catch {
        // No worker has the workflow yet, or it just closed: the next poll (or the result) tells.
      }
      await Promise.race([sleep(intervalMs), done.catch(() => undefined)]);
    }
  })();
  const searchDir = searchDirOf(stateDir, handle.workflowId);
  try {
    const result = await done;
    return { result, ...(await tableOf(searchDir)) };
  } catch (err) {
    const summary = await readSummary(searchDir);
    const table = await tableOf(searchDir);
    if (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure)
      return { result: summary, ...table };
    return { result: summary, ...table, error: rootMessage(err) };
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
