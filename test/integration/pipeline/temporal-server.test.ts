import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { SearchResult } from '../../../search/state.js';
import { SearchNameAttribute } from '../../../workflows/messages.js';
import {
  candidateTable,
  retrainedAfterFinish,
  runs,
  start,
  tempStateDir,
  testSpec,
  trainingsOf,
  until,
  wideGrid,
} from './harness.js';
import {
  SERVER_NAME,
  startProductionTemporal,
  temporalServerMissing,
  TEMPORAL_SERVER_VERSION,
} from './temporal-server.js';

/**
 * effscale against a production Temporal: a real `temporal-server` with PostgreSQL, mTLS required of every client
 * (./temporal-server.ts). The worker and the CLI reach it through Temporal's environment variables alone.
 */

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../../../bin/effscale.js', import.meta.url));
const COMPLETED = '2'; // WorkflowExecutionStatus COMPLETED, as PostgreSQL stores it

const missing = temporalServerMissing();

/** A TLS handshake that trusts the server but offers no certificate: how it ends (an error code, or 'served'). */
async function handshakeWithoutCertificate(address: string, caFile: string): Promise<string> {
  const [host, port] = address.split(':');
  const socket = connectTls({
    host,
    port: Number(port),
    ca: readFileSync(caFile),
    servername: SERVER_NAME,
    ALPNProtocols: ['h2'],
  });
  // TLS 1.3 completes the client's side first; the server's verdict on the client arrives as the first read.
  return new Promise((resolve) => {
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.once('data', () => {
      socket.destroy();
      resolve('served');
    });
  });
}

test(
  `a real temporal-server v${TEMPORAL_SERVER_VERSION} on PostgreSQL over mTLS`,
  { skip: missing && `skipped: ${missing}`, timeout: 20 * 60_000 },
  async (t) => {
    const server = await startProductionTemporal();
    const workerState = await tempStateDir('temporal-server-worker');
    const worker = spawn(process.execPath, [cli, 'worker'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...server.env, EFFSCALE_STATE_DIR: workerState },
    });
    let workerLog = '';
    worker.stderr.on('data', (d: Buffer) => (workerLog += d.toString()));
    try {
      await t.test(
        'a client without a certificate is refused; one with the CA-signed certificate is served',
        async () => {
          const refused = await Connection.connect({
            address: server.address,
            tls: server.serverTls,
            connectTimeout: 3_000,
          })
            .then((c) => c.close())
            .then(
              () => assert.fail('a connection without a client certificate was accepted'),
              (err: unknown) => err,
            );
          assert.ok(refused instanceof Error);
          // Why, from the TLS handshake itself: the server demands a certificate (TLS 1.3 alert 116).
          assert.equal(
            await handshakeWithoutCertificate(server.address, server.env.TEMPORAL_TLS_SERVER_CA_CERT_PATH),
            'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
          );
          const connection = await server.connect();
          try {
            const info = await connection.workflowService.getSystemInfo({});
            assert.equal(info.serverVersion, TEMPORAL_SERVER_VERSION, 'the real server of the pinned version');
          } finally {
            await connection.close();
          }
        },
      );

      await t.test('a search runs end to end through the worker and CLI, its history in PostgreSQL', async () => {
        const specFile = join(workerState, 'pg.yaml');
        writeFileSync(specFile, JSON.stringify(testSpec('pg')));
        const searched = await run(
          process.execPath,
          [cli, 'search', specFile, '--json', '--state-dir', await tempStateDir('temporal-server-client')],
          { env: { ...process.env, ...server.env }, timeout: 300_000 },
        );
        const out = JSON.parse(searched.stdout) as { status: string; temporal: { workflowId: string } };
        assert.equal(out.status, 'completed');
        assert.match(workerLog, /worker polling effscale on 127\.0\.0\.1:\d+ \(TLS\)/);

        const id = { id: out.temporal.workflowId };
        const current = server.psql(`SELECT status FROM current_executions WHERE workflow_id = :'id'`, 'temporal', id);
        assert.equal(current, COMPLETED, 'the search is closed as completed in the temporal database');
        const events = Number(server.psql('SELECT count(*) FROM history_node', 'temporal'));
        assert.ok(events > 10, `history events are stored in PostgreSQL (${events} nodes)`);
        const visible = server.psql(
          `SELECT status FROM executions_visibility WHERE workflow_id = :'id' ORDER BY start_time DESC LIMIT 1`,
          'temporal_visibility',
          id,
        );
        assert.equal(visible, COMPLETED, 'and in the visibility database');

        // effscale's custom search attributes on SQL visibility: the search is found by its name.
        const connection = await server.connect();
        try {
          const found: string[] = [];
          const query = `${SearchNameAttribute.name} = 'pg'`;
          for await (const w of new Client({ connection }).workflow.list({ query })) found.push(w.workflowId);
          assert.deepEqual([...new Set(found)], [out.temporal.workflowId], query); // one per run, if it continued
        } finally {
          await connection.close();
        }
      });

      await t.test(
        'temporal-server restarted mid-search: the same worker finishes it, training nothing twice',
        async () => {
          const connection = await server.connect();
          const spec = testSpec('pg-restart', {
            // 15 distinct trainings: long enough to restart the server in the middle.
            scaling: wideGrid,
            execution: { parallelism: 2, heartbeatTimeout: '10s', local: { noop: true } },
          });
          const { workflowId } = await start(new Client({ connection }), spec).finally(() => connection.close());
          const finished = async () => (await runs(workerState, workflowId)).filter((r) => r.event === 'finish');
          await until('3 finished candidates', async () => (await finished()).length >= 3);
          await server.restart();
          assert.ok((await finished()).length < 15, 'restarted in the middle of the search');

          const again = await server.connect();
          try {
            const result: SearchResult = await new Client({ connection: again }).workflow
              .getHandle(workflowId)
              .result();
            assert.equal(result.status, 'completed');
          } finally {
            await again.close();
          }
          assert.equal(worker.exitCode, null, 'the worker process lived through the restart');
          const trainings = trainingsOf(await candidateTable(workerState, workflowId));
          assert.equal(trainings.length, 15);
          assert.ok(trainings.every((c) => c.state === 'succeeded'));
          assert.deepEqual(retrainedAfterFinish(await runs(workerState, workflowId)), []);
        },
      );
    } finally {
      worker.kill('SIGTERM');
      await server.stop();
    }
  },
);
