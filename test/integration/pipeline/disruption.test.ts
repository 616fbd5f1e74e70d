import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { InProcessNoop } from '../../../executors/in-process.js';
import { TrainingDisrupted, type Executor, type TrainingHooks, type TrainingJob } from '../../../executors/executor.js';
import { disruptionsOf, type SearchResult } from '../../../search/state.js';
import {
  candidateTable,
  createTestWorker,
  runs,
  start,
  tempStateDir,
  testSpec,
  trainingsOf,
  withTestServer,
} from './harness.js';

const env = withTestServer();

/** Every training is lost twice (a preemption storm) after training for a while, then trains to the end. */
class Storm implements Executor {
  readonly kind = 'kubernetes' as const;
  readonly heartbeatSeconds = 1;
  private readonly lost = new Map<string, number>();
  private readonly noop = new InProcessNoop();
  async train(job: TrainingJob, hooks: TrainingHooks) {
    hooks.onLaunch?.({ pod: `${job.candidateId}-${this.lost.get(job.candidateId) ?? 0}` });
    const n = this.lost.get(job.candidateId) ?? 0;
    if (n < 2) {
      this.lost.set(job.candidateId, n + 1);
      hooks.onProgress({ type: 'start', candidateId: job.candidateId, epochs: 1, resumedFromEpoch: 0 });
      await sleep(1100);
      throw new TrainingDisrupted('NodeLost', 'PreemptionByScheduler: a higher-priority pod took the GPU');
    }
    return this.noop.train(job);
  }
}

test('a preemption storm: every training lost twice, no retry or failure budget spent, the search completes and reports it', async () => {
  const stateDir = await tempStateDir('storm');
  const spec = testSpec('storm', {
    execution: { parallelism: 3, retries: 0, failureBudget: 0, heartbeatTimeout: '20s', local: { noop: true } },
  });
  const storm = new Storm();
  const worker = await createTestWorker(env().nativeConnection, { stateDir, executorFor: () => storm });
  const { handle, workflowId } = await start(env().client, spec);
  const result: SearchResult = await worker.runUntil(handle.result());
  assert.equal(result.status, 'completed');
  const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
  assert.ok(trainings.every((t) => t.state === 'succeeded'));
  assert.ok(
    trainings.every((t) => t.disruptions?.count === 2),
    JSON.stringify(trainings.map((t) => t.disruptions)),
  );
  const finalists = result.state.finals.length;
  const disruptions = disruptionsOf(result.state);
  assert.equal(disruptions.count, 2 * (trainings.length + finalists));
  // Each lost attempt had trained for about a second since it started.
  assert.ok(disruptions.recomputedSeconds >= disruptions.count, JSON.stringify(disruptions));
  // Relaunched by the workflow, not retried by Temporal: every launch is its activity's first attempt.
  const launches = (await runs(stateDir, workflowId)).filter((r) => r.event === 'launch');
  assert.equal(launches.length, 3 * (trainings.length + finalists));
  assert.ok(launches.every((r) => r.attempt === 1));
});
