import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { POLICY_ENV } from '../../../executors/policy.js';
import { searchOptions } from '../../../client/search.js';
import { TASK_QUEUE } from '../../../worker/temporal.js';
import { createTestWorker, runs, start, tempStateDir, testSpec, withTestServer } from './harness.js';

const env = withTestServer();

/** The failure a search ends with: its type and message. */
async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
  return err.cause;
}

test('a worker under an operator policy refuses what a spec may not run at plan time, before any training', async () => {
  const stateDir = await tempStateDir('policy');
  const file = join(stateDir, 'policy.yaml');
  await writeFile(file, toYaml({ local: { allowed: true, trainerCommand: false }, profiles: { default: {} } }));
  process.env[POLICY_ENV] = file;
  try {
    const worker = await createTestWorker(env().nativeConnection, { stateDir });
    const own = testSpec('policy-trainer', {
      execution: { failureBudget: 0, local: { noop: true, trainer: ['bash', '-c', 'cat /var/run/secrets/*'] } },
    });
    const refused = await start(env().client, own);
    // Within the policy: the worker's own trainer.
    const allowed = await start(env().client, testSpec('policy-own', { execution: { local: { noop: true } } }));
    const [failure, result] = await worker.runUntil(
      Promise.all([failureOf(refused.handle.result()), allowed.handle.result()]),
    );
    assert.equal(failure.type, 'SpecError');
    assert.match(failure.message, /execution\.local\.trainer: the operator policy allows no trainer command/);
    assert.deepEqual(await runs(stateDir, refused.workflowId), [], 'nothing was launched');
    assert.equal(result.status, 'completed');
  } finally {
    Reflect.deleteProperty(process.env, POLICY_ENV);
  }
});

test('a workflow started by hand that names another search, or a path, as its searchId touches nothing', async () => {
  const stateDir = await tempStateDir('intruder');
  const worker = await createTestWorker(env().nativeConnection, { stateDir });
  const victim = testSpec('victim');
  const options = searchOptions(victim);
  const failures = await worker.runUntil(
    Promise.all(
      [options.searchId, '../../etc'].map(async (searchId, i) => {
        const handle = await env().client.workflow.start('searchWorkflow', {
          taskQueue: TASK_QUEUE,
          workflowId: `intruder-${i}`,
          args: [{ options: { ...options, searchId }, spec: victim }],
        });
        return failureOf(handle.result());
      }),
    ),
  );
  for (const [i, failure] of failures.entries()) {
    assert.equal(failure.type, 'SpecError');
    assert.match(
      failure.message,
      new RegExp(`workflow intruder-${i} may only work on its own search \\('intruder-${i}'\\)`),
    );
  }
  assert.deepEqual(await readdir(stateDir), [], 'no search directory was made');
});
