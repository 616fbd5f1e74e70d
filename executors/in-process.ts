import { trainCandidate } from '../trainer/train.js';
import type { Executor, TrainingHooks, TrainingJob } from './executor.js';

/**
 * The trainer entry called in this process in no-op mode: thousands of trainings in seconds, with no process
 * start-up, so that what is measured or tested is the orchestration (the pipeline tests and bench:pipeline).
 */
export class InProcessNoop implements Executor {
  readonly kind = 'local' as const;
  readonly heartbeatSeconds = 1;
  train(job: TrainingJob, hooks?: TrainingHooks) {
    // Recorded like any launch, so the runs log shows what was trained when (no pid: it runs in this process).
    hooks?.onLaunch?.({});
    return trainCandidate(job.spec, job.outDir, { noop: true });
  }
}
