import type { Stage } from './state.js';

/**
 * Rejects a move to another version before it enters the history. Registering is short and not repeatable, and a
 * closed search has nothing left to run.
 */
export function validateUpgrade(stage: Stage): void {
  if (stage === 'register') throw new Error('the search is registering its models; it closes in a moment');
  if (stage === 'done' || stage === 'cancelled' || stage === 'failed')
    throw new Error(`the search is ${stage === 'done' ? 'finished' : stage}: nothing runs to move`);
}
