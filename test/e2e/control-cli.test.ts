import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../../bin/effscale.js', import.meta.url));
const quick = fileURLToPath(new URL('../../../examples/quick.yaml', import.meta.url));

const effscale = async (stateDir: string, ...args: string[]) =>
  (await run(process.execPath, [cli, ...args, '--state-dir', stateDir], { maxBuffer: 16 << 20 })).stdout;

async function waitFor(check: () => Promise<boolean> | boolean, what: string, seconds = 60): Promise<void> {
  for (let i = 0; i < seconds * 4; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('pause, resume and parallelism steer a search started with --detach on `effscale dev`', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'effscale-control-'));
  const stateDir = join(dir, 'state');
  const spec = parse(await readFile(quick, 'utf8'));
  spec.name = 'control';
  spec.execution = { ...spec.execution, parallelism: 1, local: { noop: true } };
  const file = join(dir, 'control.yaml');
  await writeFile(file, JSON.stringify(spec));

  const dev = spawn(process.execPath, [cli, 'dev', '--state-dir', stateDir], { stdio: 'ignore' });
  t.after(() => dev.kill('SIGINT'));
  await waitFor(() => existsSync(join(stateDir, 'temporal.json')), 'the dev server');

  const { workflowId } = JSON.parse(await effscale(stateDir, 'search', file, '--detach', '--json'));
  const status = async () => JSON.parse(await effscale(stateDir, 'status', workflowId, '--json')).progress;

  await effscale(stateDir, 'pause', workflowId);
  assert.equal((await status()).paused, true);
  // A candidate already running when the pause arrives may still finish; after that nothing moves.
  await waitFor(async () => (await status()).trainings.running === 0, 'running candidates to finish');
  const trainedWhilePaused = (await status()).trainings;
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual((await status()).trainings, trainedWhilePaused, 'nothing new launches while paused');

  assert.match(await effscale(stateDir, 'parallelism', workflowId, '3'), /parallelism 3/);
  assert.equal((await status()).parallelism, 3);
  await assert.rejects(effscale(stateDir, 'parallelism', workflowId, '0'), /parallelism: expected a whole number/);

  // A second search, held paused, is cancelled from the CLI.
  const other = join(dir, 'other.yaml');
  await writeFile(other, JSON.stringify({ ...spec, name: 'control-cancel' }));
  const { workflowId: cancelId } = JSON.parse(await effscale(stateDir, 'search', other, '--detach', '--json'));
  await effscale(stateDir, 'pause', cancelId);
  assert.match(await effscale(stateDir, 'cancel', cancelId), /cancellation requested/);
  await waitFor(
    async () => JSON.parse(await effscale(stateDir, 'status', cancelId, '--json')).status === 'CANCELLED',
    'the cancelled search to close',
  );

  await effscale(stateDir, 'resume', workflowId);
  const result = JSON.parse(await effscale(stateDir, 'result', workflowId, '--json'));
  assert.equal(result.status, 'completed');
  assert.ok(result.candidates.every((c: { state: string }) => c.state === 'succeeded'));
});
