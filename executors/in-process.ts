import { trainCandidate } from '../trainer/train.js';
import type { Executor, TrainingJob } from './executor.js';

/**
 * The trainer entry called in this process in no-op mode: thousands of trainings in seconds, with no process
 * start-up, so that what is measured or tested is the orchestration (the pipeline tests and bench:pipeline).
 */
export class InProcessNoop implements Executor {
  readonly kind = 'local' as const;
  readonly heartbeatSeconds = 1;
  train(job: TrainingJob) {
    return trainCandidate(job.spec, job.outDir, { noop: true });
  }
}
