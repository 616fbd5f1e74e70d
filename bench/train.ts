/**
 * `npm run bench:train`: training throughput (images/s) and peak RSS of the trainer's step on tfjs-node (native
 * libtensorflow) against the same architecture built in Keras (Python TensorFlow 2.21, tensorflow-cpu from PyPI in
 * a virtualenv this script creates under ~/.cache/effscale), measured in the same run on this machine. Each
 * measurement runs in its own process so the peak RSS is its own. Both train with Adam on the same fixed random
 * batch, so data loading is excluded on both sides. The Keras baseline is its best configuration here: the default
 * XLA-compiled train step, with oneDNN on or off, whichever is faster; Keras without XLA is printed for reference.
 * `BENCH_ROUNDS` (default 2) alternating rounds per case, best of each side; `BENCH_BATCH` (default 32).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, homedir, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Architecture } from '../scaling/architecture.js';
import { getPreset } from '../scaling/presets.js';

const TF_VERSION = '2.21.0';
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const cache = process.env.EFFSCALE_CACHE ?? join(homedir(), '.cache', 'effscale');

interface Measurement {
  imagesPerSecond: number;
  peakRssBytes: number;
  params: { trainable: number; total: number };
}

interface Case {
  name: string;
  arch: Architecture;
  warmup: number;
  steps: number;
}

const batchSize = Number(process.env.BENCH_BATCH ?? 32);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const cases: Case[] = [
  { name: 'micro-28 (28×28×1)', arch: getPreset('micro-28'), warmup: 5, steps: 40 },
  {
    name: 'EfficientNet-B0 at 64×64',
    arch: { ...getPreset('efficientnet-b0'), resolution: 64, classes: 10 },
    warmup: 3,
    steps: 12,
  },
];

/** The Keras side: a virtualenv with tensorflow-cpu from the cached wheel (PyPI for its dependencies). */
function kerasPython(): string {
  const venv = join(cache, `keras-venv-${TF_VERSION}`);
  const python = join(venv, 'bin', 'python');
  const ready = () =>
    existsSync(python) && spawnSync(python, ['-c', 'import tensorflow'], { stdio: 'ignore' }).status === 0;
  if (!ready()) {
    console.error(`bench: creating ${venv} with tensorflow-cpu==${TF_VERSION}`);
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(
      python,
      ['-m', 'pip', 'install', '--quiet', '--find-links', join(cache, 'tf-wheel'), `tensorflow-cpu==${TF_VERSION}`],
      { stdio: 'inherit' },
    );
  }
  return python;
}

function lastJsonLine(text: string, what: string): Measurement {
  const line = text
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${what} printed no result`);
  return JSON.parse(line) as Measurement;
}

function measureTfjs(archFile: string, c: Case): Measurement {
  const run = spawnSync(
    process.execPath,
    [fileURLToPath(import.meta.url), '--worker', archFile, String(c.warmup), String(c.steps)],
    // TensorFlow's start-up lines (oneDNN notice) would interleave with the table; shown only on failure.
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (run.status !== 0) throw new Error(`tfjs worker failed for ${c.name}:\n${run.stderr}`);
  return lastJsonLine(run.stdout, 'tfjs worker');
}

/** A Keras run with oneDNN kernels on or off (`TF_ENABLE_ONEDNN_OPTS`) and its train step XLA-compiled or not. */
function measureKeras(python: string, archFile: string, c: Case, onednn: '0' | '1', jit: 'auto' | 'off'): Measurement {
  const run = spawnSync(
    python,
    [
      join(repo, 'bench', 'keras_train.py'),
      archFile,
      '--batch-size',
      String(batchSize),
      '--warmup',
      String(c.warmup),
      '--steps',
      String(c.steps),
      '--jit',
      jit,
    ],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TF_ENABLE_ONEDNN_OPTS: onednn },
    },
  );
  if (run.status !== 0) throw new Error(`keras run failed for ${c.name}:\n${run.stderr}`);
  return lastJsonLine(run.stdout, 'keras');
}

/** Runs in a child process: the trainer's own step (trainer/step.ts) on a fixed batch. */
async function worker(archFile: string, warmup: number, steps: number): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { loadNativeTf } = await import('../trainer/tf.js');
  const { buildModel, countParams } = await import('../trainer/model.js');
  const { trainStep } = await import('../trainer/step.js');
  const { createOptimizer } = await import('../trainer/optimizer.js');
  const { Training } = await import('../spec/task.js');
  // As trainCandidate loads it, so the step measured is the one a training runs.
  const tf = loadNativeTf('tensorflow', { onednn: true });
  const arch = JSON.parse(readFileSync(archFile, 'utf8')) as Architecture;
  const model = buildModel(arch, tf, { seed: 0 });
  const training = Training.parse({ batchSize });
  const trainable = model.trainableWeights.map((w) => w.read() as import('@tensorflow/tfjs-node').Variable);
  const optimizer = createOptimizer(tf, training, trainable);
  const xs = tf.randomNormal([batchSize, arch.resolution, arch.resolution, arch.inputChannels], 0, 1, 'float32', 0);
  const labels = Int32Array.from({ length: batchSize }, (_, i) => i % arch.classes);
  const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), arch.classes).toFloat();
  // trainStep disposes its batch, so each step gets clones of the fixed tensors.
  const step = () => trainStep(tf, model, optimizer, trainable, { xs: xs.clone(), ys: ys.clone(), labels }, training);
  for (let i = 0; i < warmup; i++) await step();
  const start = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const seconds = (performance.now() - start) / 1000;
  const result: Measurement & { framework: string } = {
    framework: 'tfjs-node',
    imagesPerSecond: (batchSize * steps) / seconds,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    params: countParams(model),
  };
  console.log(JSON.stringify(result));
}

async function main(): Promise<void> {
  const python = kerasPython();
  const dir = mkdtempSync(join(tmpdir(), 'effscale-bench-train-'));
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
  console.log(
    `training throughput, batch ${batchSize}, Adam, fixed random batch; tfjs-node ${TF_VERSION} vs Keras ${TF_VERSION}` +
      ` (${cpus().length} CPUs, load average ${load()})`,
  );
  console.log(
    `best of ${rounds} alternating rounds per side; Keras baseline: its default compile (XLA train step), the ` +
      'faster of oneDNN on/off; Keras without XLA (same oneDNN setting) for reference',
  );
  for (const c of cases) {
    const archFile = join(dir, `${c.arch.name}.json`);
    writeFileSync(archFile, JSON.stringify(c.arch));
    // Rounds alternate the two sides so a burst of load on this shared machine does not fall on one side only; the
    // best of each is kept.
    const tfjsRuns: Measurement[] = [];
    const kerasRuns: { onednn: '0' | '1'; m: Measurement }[] = [];
    for (let round = 0; round < rounds; round++) {
      tfjsRuns.push(measureTfjs(archFile, c));
      for (const onednn of ['0', '1'] as const) {
        kerasRuns.push({ onednn, m: measureKeras(python, archFile, c, onednn, 'auto') });
      }
    }
    const tfjs = tfjsRuns.reduce((a, b) => (b.imagesPerSecond > a.imagesPerSecond ? b : a));
    const best = kerasRuns.reduce((a, b) => (b.m.imagesPerSecond > a.m.imagesPerSecond ? b : a));
    const keras = best.m;
    const eager = measureKeras(python, archFile, c, best.onednn, 'off');
    for (const other of [keras, eager]) {
      if (tfjs.params.total !== other.params.total) {
        throw new Error(`${c.name}: the two builds differ (${tfjs.params.total} vs ${other.params.total} parameters)`);
      }
    }
    const ratio = tfjs.imagesPerSecond / keras.imagesPerSecond;
    console.log(
      `${c.name.padEnd(26)} tfjs-node ${tfjs.imagesPerSecond.toFixed(1).padStart(7)} img/s (peak RSS ${mib(tfjs.peakRssBytes)})  ` +
        `keras ${keras.imagesPerSecond.toFixed(1).padStart(7)} img/s (peak RSS ${mib(keras.peakRssBytes)}, oneDNN ${best.onednn === '1' ? 'on' : 'off'})  ` +
        `ratio ${ratio.toFixed(2)}× ${ratio >= 0.8 ? '(meets ≥ 0.8×)' : '(below the 0.8× target)'}`,
    );
    console.log(
      `${''.padEnd(26)} keras without XLA ${eager.imagesPerSecond.toFixed(1).padStart(7)} img/s: ratio ${(tfjs.imagesPerSecond / eager.imagesPerSecond).toFixed(2)}×`,
    );
  }
  console.log(`load average at the end ${load()}`);
}

if (process.argv[2] === '--worker') {
  await worker(process.argv[3] ?? '', Number(process.argv[4]), Number(process.argv[5]));
} else {
  await main();
}
