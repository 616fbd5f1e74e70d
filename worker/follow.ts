import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { progressQuery } from '../workflows/messages.js';
import type { SearchProgress, SearchResult } from '../workflows/state.js';
import { readSummary } from '../activities/register.js';
import { searchDirOf } from '../activities/search-dir.js';
import type { SearchHandle } from './client.js';

export interface Outcome {
  result?: SearchResult;
  /** Why the search failed (it may still have a summary of what finished). */
  error?: string;
}

/**
 * Waits for a search to close, reporting progress; a cancelled or failed search yields the summary recorded under
 * `stateDir` (the workers' store: the same directory in single-machine mode, the shared volume on a cluster).
 */
export async function followSearch(
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
        onProgress(await handle.query(progressQuery));
      } catch {
        // No worker has the workflow yet, or it just closed: the next poll (or the result) tells.
      }
      await Promise.race([sleep(intervalMs), done.catch(() => undefined)]);
    }
  })();
  try {
    return { result: await done };
  } catch (err) {
    const summary = await readSummary(searchDirOf(stateDir, handle.workflowId));
    if (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure) return { result: summary };
    const why = rootMessage(err);
    return { result: summary, error: why };
  } finally {
    await poll;
  }
}

/** The innermost failure message: "Activity task failed" says less than what the activity threw. */
function rootMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
