import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { TrainResult } from '../../../schemas/candidate.js';
import { NATIVE_PACKAGES, nativePackage } from '../../../trainer/tf.js';
import { tempDir } from './helpers.js';

// The GPU build: @tensorflow/tfjs-node-gpu on the tensorflow 2.21.0 wheel's libtensorflow (built for CUDA 12) with the
// nvidia-*-cu12 libraries, provisioned by `infra/setup-tfjs.sh gpu` (`npm test` runs it). This machine has no GPU:
// these tests prove the linkage and that the build trains, on the CPU. They fail, never skip, when it is missing.

const DEPS = 'node_modules/@tensorflow/tfjs-node-gpu/deps';
const PROVISION = 'provision the GPU build with `npm run setup -- --gpu` (bash infra/setup-tfjs.sh gpu)';

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('EFFSCALE_TFJS chooses the native package explicitly: cpu by default, gpu on request, anything else refused', () => {
  assert.equal(nativePackage({}), NATIVE_PACKAGES.cpu);
  assert.equal(nativePackage({ EFFSCALE_TFJS: 'cpu' }), '@tensorflow/tfjs-node');
  assert.equal(nativePackage({ EFFSCALE_TFJS: 'GPU' }), '@tensorflow/tfjs-node-gpu');
  assert.throws(() => nativePackage({ EFFSCALE_TFJS: 'cuda' }), /EFFSCALE_TFJS must be cpu or gpu, not 'cuda'/);
});

test('every CUDA library the GPU build loads resolves inside the staged tree, searched the way TensorFlow does', async () => {
  // TF_LoadLibrary dlopens from libtensorflow_framework.so.2 like TensorFlow's DSO loader: its RUNPATH finds
  // deps/nvidia/<lib>/lib, with no LD_LIBRARY_PATH. libtensorflow links none of them (no NEEDED entry).
  const env = { ...process.env };
  delete env.LD_LIBRARY_PATH;
  const { code, stdout, stderr } = await run('python3', ['infra/tfjs-deps.py', 'check-cuda', DEPS], env);
  assert.equal(code, 0, `${stdout}\n${stderr}\n${PROVISION}`);
  assert.match(stdout, /TensorFlow 2\.21\.0 in /);
  for (const lib of [
    'libcudart.so.12',
    'libcublas.so.12',
    'libcublasLt.so.12',
    'libcufft.so.11',
    'libcusolver.so.11',
  ]) {
    assert.match(stdout, new RegExp(`ok {3}${lib.replace(/\./g, '\\.')} +TF dlopen \\(GPU check\\)`), stdout);
  }
  for (const lib of ['libcusparse.so.12', 'libcudnn.so.9', 'libnvJitLink.so.12', 'libnvrtc.so.12', 'ptxas']) {
    assert.match(stdout, new RegExp(`ok {3}${lib.replace(/\./g, '\\.')} `), stdout);
  }
  assert.doesNotMatch(stdout, /FAIL/);
});

test('with EFFSCALE_TFJS=gpu, `effscale train` runs the graph engine on tfjs-node-gpu with the CUDA build of TF 2.21.0 and learns', async () => {
  const out = await tempDir('gpu-build');
  const env: NodeJS.ProcessEnv = { ...process.env, EFFSCALE_TFJS: 'gpu', TF_CPP_MIN_LOG_LEVEL: '0' };
  delete env.LD_LIBRARY_PATH;
  const args = ['bin/effscale.js', 'train', '--preset', 'micro-28', '--dataset', 'fashion-mnist', '--epochs', '3'];
  args.push('--train-limit', '256', '--val-limit', '64', '--json', '--out', out);
  const { code, stdout, stderr } = await run(process.execPath, args, env);
  assert.equal(code, 0, `${stderr}\n${PROVISION}`);

  const result = TrainResult.parse(JSON.parse(stdout));
  assert.equal(result.tfjsPackage, '@tensorflow/tfjs-node-gpu');
  assert.equal(result.backend, 'tensorflow');
  assert.equal(result.tfVersion, '2.21.0');
  assert.equal(result.engine, 'graph', 'the compiled graph engine runs on the GPU build too');
  // The CUDA build initialises its CUDA platform (here it finds no driver and computes on the CPU); the
  // tensorflow-cpu build of tfjs-node logs nothing of the kind.
  assert.match(stderr, /cuda|gpu_device/i, 'the library tfjs-node-gpu loaded is the CUDA build');

  const losses = result.epochs.map((e) => e.trainLoss);
  assert.equal(losses.length, 3);
  assert.ok(
    losses.every((l) => Number.isFinite(l)),
    `finite losses: ${losses.join(', ')}`,
  );
  const [first = NaN, , last = NaN] = losses;
  assert.ok(last < first * 0.9, `training loss falls: ${losses.join(' → ')}`);
  const saved = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as TrainResult;
  assert.equal(saved.tfjsPackage, '@tensorflow/tfjs-node-gpu');
});
