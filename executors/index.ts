import type { Execution } from '../schemas/search.js';
import type { Executor } from './executor.js';
import { LocalExecutor } from './local.js';
import { KubernetesExecutor } from './kubernetes/executor.js';
import { kubernetesExecutionFor } from './kubernetes/defaults.js';
import { admitLocal, loadPolicy } from './policy.js';
import { QuotaTurns } from './kubernetes/quota.js';

/** How often an executor's housekeeping (`sweep`: expired failed pods) runs. */
const SWEEP_EVERY_MS = 60_000;

/**
 * The executors of one worker process: one per execution setting, built on first use and kept for the worker's
 * life, like its connection. They share what must be shared within a process (the GPU quota's check-and-create
 * turn per cluster and namespace), and their housekeeping runs on one timer here, not on every training.
 */
export class ExecutorPool {
  private readonly executors = new Map<string, Executor>();
  private readonly turns = new QuotaTurns();
  private sweeper: NodeJS.Timeout | undefined;

  /** The executor for a search's `execution`; the workflow never knows which one trains. */
  readonly for = (execution: Execution): Executor => {
    const policy = loadPolicy();
    if (policy && execution.executor === 'local') admitLocal(execution, policy);
    const settings =
      execution.executor === 'local'
        ? { kind: 'local' as const, local: execution.local }
        : { kind: 'kubernetes' as const, kubernetes: kubernetesExecutionFor(execution, policy) };
    const key = JSON.stringify(settings);
    let executor = this.executors.get(key);
    if (!executor) {
      executor =
        settings.kind === 'local'
          ? new LocalExecutor(settings.local)
          : new KubernetesExecutor(settings.kubernetes, { turns: this.turns });
      this.executors.set(key, executor);
      if (executor.sweep) this.startSweeping();
    }
    return executor;
  };

  /** Best effort: a sweep that fails (the API briefly unreachable) is tried again at the next tick. */
  async sweep(): Promise<void> {
    for (const executor of this.executors.values()) await executor.sweep?.().catch(() => undefined);
  }

  private startSweeping(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    // Housekeeping never keeps a process alive: the timer ends with the worker.
    this.sweeper.unref();
  }
}
