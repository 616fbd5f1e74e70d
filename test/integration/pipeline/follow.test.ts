import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NativeConnection } from '@temporalio/worker';
import { followSearch } from '../../../client/follow.js';
import { progressQuery } from '../../../workflows/messages.js';
import { createTestWorker, start, tempStateDir, testSpec, withTestServer } from './harness.js';

const server = withTestServer();

test('following a search stops at once when told, even with a progress query no worker will answer', async () => {
  const { client, nativeConnection } = server();
  const stateDir = await tempStateDir('follow');
  const { handle } = await start(client, testSpec('follow-stop'));
  // A worker runs the search's first steps, then goes away, as a session's worker does on Ctrl-C: from then on a
  // query waits for a worker that never comes.
  const worker = await createTestWorker(nativeConnection as NativeConnection, { stateDir });
  await worker.runUntil(handle.query(progressQuery));
  const stopping = new AbortController();
  const polls: number[] = [];
  const followed = followSearch(client, handle, () => polls.push(Date.now()), stateDir, {
    intervalMs: 100,
    signal: stopping.signal,
  });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const stoppedAt = Date.now();
  stopping.abort();
  await assert.rejects(followed);
  const seconds = (Date.now() - stoppedAt) / 1000;
  assert.ok(
    seconds < 5,
    `followSearch returned ${seconds} s after the stop (an unanswered query held it for about 30 s)`,
  );
  await handle.terminate('test over');
});
