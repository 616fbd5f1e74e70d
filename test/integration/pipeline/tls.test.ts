import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { ensureDevServer } from '../../../client/dev-server.js';
import { tempStateDir, testSpec } from './harness.js';

/**
 * A production Temporal as effscale meets it: TLS with a private CA and a server name that is not the host,
 * mTLS, and an API key. nginx (Debian) terminates TLS in front of a dev server, verifies the client certificate
 * and answers 401 to a request without the right bearer token; the worker and the CLI take everything from
 * Temporal's environment variables.
 */

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../../../bin/effscale.js', import.meta.url));
const SERVER_NAME = 'temporal.effscale.test';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** A CA, a server certificate for SERVER_NAME only, and a client certificate, all signed by the CA. */
function certificates(dir: string): void {
  openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt'].concat([
      '-days',
      '2',
      '-subj',
      '/CN=effscale-test-ca',
    ]),
    dir,
  );
  for (const [name, ext] of [
    ['server', `subjectAltName=DNS:${SERVER_NAME}\nextendedKeyUsage=serverAuth\n`],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ]) {
    openssl(
      ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`].concat([
        '-subj',
        `/CN=${name}`,
      ]),
      dir,
    );
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.crt`,
      ]),
      dir,
    );
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

/** nginx in the foreground: TLS with client verification, the API key checked, gRPC passed to the dev server. */
async function startProxy(dir: string, upstream: string, apiKey: string): Promise<{ address: string; stop(): void }> {
  const port = await freePort();
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;\nmaster_process off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\nevents {}\nhttp {\n` +
      `  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n` +
      `  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n` +
      `  server {\n    listen 127.0.0.1:${port} ssl http2;\n` +
      `    ssl_certificate ${dir}/server.crt;\n    ssl_certificate_key ${dir}/server.key;\n` +
      `    ssl_client_certificate ${dir}/ca.crt;\n    ssl_verify_client on;\n` +
      `    grpc_read_timeout 300s;\n    grpc_send_timeout 300s;\n` +
      `    location / {\n      if ($http_authorization != "Bearer ${apiKey}") { return 401; }\n` +
      `      grpc_pass grpc://${upstream};\n    }\n  }\n}\n`,
  );
  const nginx: ChildProcess = spawn('/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await new Promise((r) => setTimeout(r, 500));
  if (nginx.exitCode !== null) throw new Error(`nginx exited with ${nginx.exitCode}: see ${dir}/error.log`);
  return { address: `127.0.0.1:${port}`, stop: () => nginx.kill('SIGTERM') };
}

test('a production Temporal: TLS with a private CA and server name, mTLS and an API key', async (t) => {
  const dir = await tempStateDir('tls');
  certificates(dir);
  const apiKey = `key-${randomBytes(12).toString('hex')}`;
  const server = await ensureDevServer(await tempStateDir('tls-server'));
  const proxy = await startProxy(dir, server.address, apiKey);
  const env = {
    ...process.env,
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'ca.crt'),
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.crt'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.key'),
    TEMPORAL_API_KEY: apiKey,
  };
  const worker = spawn(process.execPath, [cli, 'worker'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...env, EFFSCALE_STATE_DIR: await tempStateDir('tls-worker') },
  });
  let workerLog = '';
  worker.stderr.on('data', (d: Buffer) => (workerLog += d.toString()));
  try {
    await t.test('a search runs end to end through the front, worker and CLI alike', async () => {
      const specFile = join(dir, 'tls.yaml');
      writeFileSync(specFile, JSON.stringify(testSpec('tls')));
      const stateDir = await tempStateDir('tls-client');
      const searched = await run(process.execPath, [cli, 'search', specFile, '--json', '--state-dir', stateDir], {
        env,
        timeout: 300_000,
      });
      const out = JSON.parse(searched.stdout) as { status: string; temporal: { workflowId: string } };
      assert.equal(out.status, 'completed');
      assert.match(workerLog, /worker polling effscale on 127\.0\.0\.1:\d+ \(TLS\)/);

      // Secrets reach the connection only: the whole history, read past the front, holds neither.
      const direct = await Connection.connect({ address: server.address });
      try {
        const history = await direct.workflowService.getWorkflowExecutionHistory({
          namespace: 'default',
          execution: { workflowId: out.temporal.workflowId },
          maximumPageSize: 10_000,
        });
        const text = JSON.stringify(history.history);
        assert.ok(text.length > 1000, 'the history was read');
        assert.ok(!text.includes(apiKey), 'the API key is not in the history');
        assert.ok(!text.includes('PRIVATE KEY'), 'no key material in the history');
      } finally {
        await direct.close();
      }
    });

    await t.test(
      'a wrong API key is refused by the server, and the error says where and how it connected',
      async () => {
        const refused = await run(process.execPath, [cli, 'list', '--state-dir', await tempStateDir('tls-list')], {
          env: { ...env, TEMPORAL_API_KEY: 'wrong' },
          timeout: 120_000,
        }).then(
          () => assert.fail('listing with a wrong API key succeeded'),
          (err: { code: number; stderr: string }) => err,
        );
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /cannot reach Temporal at 127\.0\.0\.1:\d+ \(TLS\)/);
        assert.match(refused.stderr, /401|Unauthenticated|UNAUTHENTICATED/i);
      },
    );

    await t.test('half an mTLS setting is an error naming both variables, before any connection', async () => {
      const bad = await run(process.execPath, [cli, 'list'], {
        env: { ...env, TEMPORAL_TLS_CLIENT_KEY_PATH: '' },
        timeout: 30_000,
      }).then(
        () => assert.fail('a certificate without its key was accepted'),
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH: mTLS needs both/);
    });
  } finally {
    worker.kill('SIGTERM');
    proxy.stop();
    await server.stop();
  }
});
