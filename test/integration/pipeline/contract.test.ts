import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TRAINER_TOO_OLD } from '../../../search/errors.js';
import type { SearchResult } from '../../../search/state.js';
import {
  candidateTable,
  createTestWorker,
  retrainedAfterFinish,
  runs,
  start,
  tempStateDir,
  testSpec,
  trainingsOf,
  withTestServer,
} from './harness.js';

const env = withTestServer();
const olderTrainer = fileURLToPath(new URL('../../fixtures/trainers/newer-candidate.js', import.meta.url));

test('a trainer older than its candidates stops the search by name, counts nothing, and the search resumes with the right trainer', async () => {
  const stateDir = await tempStateDir('contract');
  const execution = { parallelism: 2, retries: 2, failureBudget: 0, heartbeatTimeout: '20s' };
  const spec = testSpec('contract', {
    execution: { ...execution, local: { noop: true, trainer: [process.execPath, olderTrainer] } },
  });
  const worker = await createTestWorker(env().nativeConnection, { stateDir });
  const { handle, workflowId } = await start(env().client, spec);
  const failure = await worker.runUntil(
    handle.result().then(
      () => undefined,
      (err: unknown) => err,
    ),
  );
  assert.ok(failure instanceof WorkflowFailedError, String(failure));
  assert.ok(failure.cause instanceof ApplicationFailure);
  assert.equal(failure.cause.type, TRAINER_TOO_OLD);
  assert.match(
    failure.cause.message,
    /candidate contract \d+, and this trainer reads up to \d+: run the trainer image/,
  );
  const table = trainingsOf(await candidateTable(stateDir, workflowId));
  assert.ok(
    table.every((t) => t.state !== 'failed'),
    'no training counted as failed',
  );
  // One attempt per launched training: a non-retryable refusal, not a retried failure.
  const launches = (await runs(stateDir, workflowId)).filter((r) => r.event === 'launch');
  assert.ok(launches.length >= 1 && launches.every((r) => r.attempt === 1), JSON.stringify(launches));

  // The trainer of the worker's release: the search resumes (execution is not part of its identity) and completes.
  const fixed = testSpec('contract', { execution: { ...execution, local: { noop: true } } });
  const resumed = await start(env().client, fixed);
  assert.equal(resumed.workflowId, workflowId);
  const result: SearchResult = await (
    await createTestWorker(env().nativeConnection, { stateDir })
  ).runUntil(resumed.handle.result());
  assert.equal(result.status, 'completed');
  assert.ok(trainingsOf(await candidateTable(stateDir, workflowId)).every((t) => t.state === 'succeeded'));
  assert.deepEqual(retrainedAfterFinish(await runs(stateDir, workflowId)), []);
});
