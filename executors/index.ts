import type { Execution } from '../../spec/search.js';
import type { Executor } from '../executor.js';
import { LocalExecutor } from './local.js';
import { KubernetesExecutor } from '../kubernetes/executor.js';
import { kubernetesExecutionFor } from '../kubernetes/defaults.js';

/** One executor per kind of execution; the workflow never knows which one trains. */
export function createExecutor(execution: Execution): Executor {
  switch (execution.executor) {
    case 'local':
      return new LocalExecutor(execution.local);
    case 'kubernetes':
      return new KubernetesExecutor(kubernetesExecutionFor(execution.kubernetes));
  }
}
