import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureDevServer, freePort } from '../../../client/dev-server.js';
import { tempStateDir, until } from './harness.js';

const cli = fileURLToPath(new URL('../../../../bin/effscale.js', import.meta.url));

test('effscale worker --health-port answers the probes: ready once it polls, nothing else served', async () => {
  const server = await ensureDevServer(await tempStateDir('health-server'));
  const port = await freePort();
  const worker = spawn(process.execPath, [cli, 'worker', '--address', server.address, '--health-port', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, EFFSCALE_STATE_DIR: await tempStateDir('health-worker') },
  });
  let said = '';
  worker.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const get = (route: string) =>
    fetch(`http://127.0.0.1:${port}${route}`).then(
      (r) => r.status,
      () => 0,
    );
  try {
    await until('the worker ready', async () => (await get('/readyz')) === 200, 60_000);
    assert.equal(await get('/healthz'), 200);
    assert.equal(await get('/searches'), 404, 'nothing but the probes');
    assert.match(said, /worker polling effscale .*build \d+\.\d+\.\d+-[0-9a-f]{10}/);
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => worker.once('exit', r));
    await server.stop();
  }
});
