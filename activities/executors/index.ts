import type { Execution } from '../../spec/search.js';
import type { Executor } from '../executor.js';
import { LocalExecutor } from './local.js';

/** One executor per kind of execution; the workflow never knows which one trains. */
export function createExecutor(execution: Execution): Executor {
  switch (execution.executor) {
    case 'local':
      return new LocalExecutor(execution.local);
    case 'kubernetes':
      throw new Error('the kubernetes executor is not available in this build');
  }
}
