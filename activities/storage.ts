import { ApplicationFailure, Context } from '@temporalio/activity';
import { storageErrno } from '../search/errors.js';

/**
 * The search's bookkeeping on a full, read-only or failing disk: an operator can fix that, so the step waits for
 * them instead of failing the search within seconds. Tried again with backoff for up to `STORAGE_WAIT_MS` inside
 * the activity (its start-to-close timeout is 10 min), each wait logged with what to do; then the activity fails
 * retryably and Temporal's retries give as long again, four times over.
 */
export const STORAGE_WAIT_MS = 8 * 60_000;

export function ridingStorage<A extends unknown[], R>(step: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const deadline = Date.now() + STORAGE_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await step(...args);
      } catch (err) {
        const errno = storageErrno(err);
        if (!errno) throw err;
        const message =
          `the worker's store failed (${errno}: ${err instanceof Error ? err.message : String(err)}): ` +
          'free space on (or repair) the state volume and the search goes on where it was';
        if (Date.now() >= deadline) throw ApplicationFailure.retryable(message, 'StorageUnavailable');
        Context.current().log.warn(`${message}; trying again`);
        await Context.current().sleep(Math.min(30_000, 1000 * 2 ** attempt));
      }
    }
  };
}
