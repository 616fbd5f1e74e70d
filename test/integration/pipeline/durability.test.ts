import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ensureDevServer, freePort } from '../../../client/dev-server.js';
import type { SearchResult } from '../../../search/state.js';
import { quietWorkerLogs } from '../../../worker/worker.js';
import {
  candidateTable,
  trainingsOf,
  createTestWorker,
  retrainedAfterFinish,
  runs,
  start,
  startWorkerProcess,
  tempStateDir,
  testSpec,
  until,
  wideGrid,
} from './harness.js';

quietWorkerLogs();

for (const strategy of ['exhaustive', 'halving'] as const) {
  test(`a worker killed mid-search (${strategy}) is replaced and the search completes without training a finished candidate (or rung) twice`, async () => {
    const stateDir = await tempStateDir('kill');
    const server = await ensureDevServer(stateDir);
    const workers: ChildProcess[] = [];
    try {
      const client = new Client({ connection: server.connection });
      const halving = strategy === 'halving';
      const spec = testSpec(`kill-${strategy}`, {
        scaling: { ...wideGrid, grid: { ...wideGrid.grid, strategy, halving: { eta: 3, minEpochs: 1 } } },
        training: { epochs: halving ? 9 : 1, batchSize: 64 },
        execution: { parallelism: 2, heartbeatTimeout: '5s', local: { noop: true } },
      });
      const { handle, workflowId } = await start(client, spec);
      const finishes = async () => (await runs(stateDir, workflowId)).filter((r) => r.event === 'finish');
      workers.push(startWorkerProcess(server.address, stateDir));
      // Under halving, killed once a promoted rung has been launched: mid-rung.
      await until('the worker to be mid-search', async () => {
        const done = await finishes();
        return done.length >= 2 && (!halving || done.length >= 6);
      });
      workers[0].kill('SIGKILL');
      const before = (await finishes()).length;
      assert.ok(before < (halving ? 20 : 15), 'killed in the middle of the search');
      workers.push(startWorkerProcess(server.address, stateDir));
      const result: SearchResult = await handle.result();
      assert.equal(result.status, 'completed');
      const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
      assert.equal(trainings.length, 15);
      assert.ok(trainings.every((t) => t.state === 'succeeded'));
      assert.deepEqual(retrainedAfterFinish(await runs(stateDir, workflowId)), []);
      if (halving) {
        assert.equal(result.best?.rung, 2, 'the winner went through every rung');
        assert.ok(
          trainings.some((t) => (t.scores?.length ?? 0) === 1),
          'some stopped at rung 0',
        );
      }
    } finally {
      for (const w of workers) w.kill('SIGKILL');
      await server.stop();
    }
  });
}

test('the dev server stopped and restarted on the same database mid-search: the search completes', async () => {
  const stateDir = await tempStateDir('restart');
  const port = await freePort();
  const uiPort = await freePort();
  let server = await ensureDevServer(stateDir, { port, uiPort });
  const connection = await NativeConnection.connect({ address: server.address });
  const worker = await createTestWorker(connection, { stateDir });
  const running = worker.run();
  try {
    const spec = testSpec('restart', {
      scaling: wideGrid,
      execution: { parallelism: 2, heartbeatTimeout: '10s', local: { noop: true } },
    });
    const { workflowId } = await start(new Client({ connection: server.connection }), spec);
    await until(
      '3 finished candidates',
      async () => (await runs(stateDir, workflowId)).filter((r) => r.event === 'finish').length >= 3,
    );
    await server.stop();
    server = await ensureDevServer(stateDir, { port, uiPort });
    assert.equal(server.owned, true, 'a new server process on the same database file');
    const handle = new Client({ connection: server.connection }).workflow.getHandle(workflowId);
    const result: SearchResult = await handle.result();
    assert.equal(result.status, 'completed');
    assert.ok(trainingsOf(await candidateTable(stateDir, workflowId)).every((t) => t.state === 'succeeded'));
    assert.deepEqual(retrainedAfterFinish(await runs(stateDir, workflowId)), []);
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
    await server.stop();
  }
});
