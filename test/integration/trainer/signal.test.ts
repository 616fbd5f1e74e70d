import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { TrainProgress } from '../../../schemas/candidate.js';
import { fashionSpec, tempDir } from './helpers.js';

test('SIGTERM stops `effscale train` at a batch boundary with a checkpoint and exit 143; a rerun resumes', async () => {
  const dir = await tempDir('signal');
  const specPath = join(dir, 'spec.json');
  const out = join(dir, 'out');
  await writeFile(
    specPath,
    JSON.stringify(
      fashionSpec('signal', { task: { dataset: { format: 'fashion-mnist' }, trainLimit: 12800, valLimit: 64 } }),
    ),
  );
  const child = spawn(
    process.execPath,
    ['bin/effscale.js', 'train', '--spec', specPath, '--out', out, '--progress', 'jsonl'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  const lines: TrainProgress[] = [];
  // Progress lines come at most once a second, so the epoch lasts several (400 batches): a 'batch' line arrives
  // mid-epoch however fast the machine. A 'line' listener, not for-await over readline, which on Node 24 now and then misses lines or never ends.
  createInterface({ input: child.stdout }).on('line', (line) => {
    const progress = TrainProgress.parse(JSON.parse(line));
    lines.push(progress);
    if (progress.type === 'batch') child.kill('SIGTERM');
  });
  const code = await closed;
  assert.equal(code, 143, stderr);
  assert.equal(lines[0]?.type, 'start');
  const state = JSON.parse(await readFile(join(out, 'checkpoint', 'state.json'), 'utf8')) as {
    batch: number;
    epoch: number;
  };
  assert.equal(state.epoch, 0);
  assert.ok(state.batch > 0 && state.batch < 400, `stopped at batch ${state.batch} of 400`);

  const rerun = spawn(process.execPath, ['bin/effscale.js', 'train', '--spec', specPath, '--out', out, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr2 = '';
  rerun.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  rerun.stderr.on('data', (d: Buffer) => (stderr2 += d.toString()));
  assert.equal(await new Promise((resolve) => rerun.on('close', resolve)), 0, stderr2);
  assert.match(stderr2, new RegExp(`resuming at epoch 1, batch ${state.batch}`));
  const result = JSON.parse(stdout) as { epochs: unknown[]; backend: string };
  assert.equal(result.epochs.length, 1);
  assert.equal(result.backend, 'tensorflow');
});
