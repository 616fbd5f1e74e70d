/**
 * `npm run bench:train`: training throughput (images/s) and peak RSS of every training engine on tfjs-node (native
 * libtensorflow) — `graph`, `graph-xla` (the graph engine with XLA auto-clustering) and `eager` — against the same
 * architecture built in Keras (Python TensorFlow 2.21, tensorflow-cpu from the cached wheel in a virtualenv under
 * ~/.cache/effscale), measured in the same run on this machine, with each engine's ratio to the best Keras.
 *
 * Each measurement runs in its own process so the peak RSS is its own. All train with Adam on the same fixed random
 * batch, so data loading is excluded. Timing starts after a warmup (at least the case's `warmup` steps, then until a
 * step is no slower than 1.5× the fastest before it), so the graph engine's first-step compilation and XLA's cluster
 * compilation are excluded from images/s (they stay in the peak RSS). Keras runs in four configurations — its train
 * step XLA-compiled (`jit_compile=True`) or not, oneDNN on or off — and the best Keras is the fastest of them; the
 * best with and without XLA are reported too. (Keras' default `jit_compile="auto"` means no XLA on a machine
 * without accelerators, so XLA is asked for explicitly.) `ratio` is the default engine over the best Keras.
 *
 * `BENCH_ROUNDS` (default 2) alternating rounds per case, best of each configuration; `BENCH_BATCH` (default 32);
 * `BENCH_CASES=1` for the first case only.
 * `--json`: one JSON object on stdout (progress on stderr) instead of the table. Any failed measurement prints its
 * process's stderr and fails the bench.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, homedir, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Architecture } from '../scaling/architecture.js';
import { getPreset } from '../scaling/presets.js';
import { defaultEngine } from '../trainer/engine.js';

const TF_VERSION = '2.21.0';
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const cache = process.env.EFFSCALE_CACHE ?? join(homedir(), '.cache', 'effscale');

/** The graph engine with these in its environment (before TensorFlow loads) is `graph-xla`. */
const XLA_FLAGS = '--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit';
const engineKeys = ['graph', 'graph-xla', 'eager'] as const;
type EngineKey = (typeof engineKeys)[number];

/** A step slower than this multiple of the fastest warmup step before it is still warming up (compiling). */
const SETTLED = 1.5;
/** Warmup steps beyond the case's minimum before the bench gives up waiting for the step time to settle. */
const EXTRA_WARMUP = 20;

interface Measurement {
  /** Keras only: whether its train step was XLA-compiled. */
  xla?: boolean;
  imagesPerSecond: number;
  peakRssBytes: number;
  params: { trainable: number; total: number };
  warmupSteps: number;
  firstStepSeconds: number;
  settled: boolean;
}

interface Case {
  name: string;
  arch: Architecture;
  /** Minimum warmup steps (the warmup goes on until the step time settles). */
  warmup: number;
  steps: number;
}

const batchSize = Number(process.env.BENCH_BATCH ?? 32);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const allCases: Case[] = [
  { name: 'micro-28 (28×28×1)', arch: getPreset('micro-28'), warmup: 5, steps: 40 },
  {
    name: 'EfficientNet-B0 at 64×64',
    arch: { ...getPreset('efficientnet-b0'), resolution: 64, classes: 10 },
    warmup: 3,
    steps: 12,
  },
];
/** BENCH_CASES=1 measures only the first (small) case: the suite's smoke run. */
const cases = allCases.slice(0, Number(process.env.BENCH_CASES ?? allCases.length));

/** Child output goes to our stderr, so `--json` keeps stdout to the JSON object. */
const toStderr = ['ignore', 2, 2] as const;

/**
 * The Keras side: a virtualenv with tensorflow-cpu from the cached wheel (PyPI for its dependencies); the same one
 * infra/setup-tf-python.sh provisions for the SavedModel export test.
 */
function kerasPython(): string {
  const venv = join(cache, `tf-python-${TF_VERSION}`);
  const python = join(venv, 'bin', 'python');
  const ready = () =>
    existsSync(python) && spawnSync(python, ['-c', 'import tensorflow'], { stdio: 'ignore' }).status === 0;
  if (!ready()) {
    console.error(`bench: creating ${venv} with tensorflow-cpu==${TF_VERSION}`);
    rmSync(venv, { recursive: true, force: true });
    execFileSync('python3', ['-m', 'venv', venv], { stdio: [...toStderr] });
    execFileSync(
      python,
      ['-m', 'pip', 'install', '--quiet', '--find-links', join(cache, 'tf-wheel'), `tensorflow-cpu==${TF_VERSION}`],
      { stdio: [...toStderr] },
    );
    if (!ready()) throw new Error(`tensorflow does not import in ${venv}`);
  }
  return python;
}

/** The environment of a measurement: ours, with TF_XLA_FLAGS only where XLA auto-clustering is measured. */
function childEnv(extra: Record<string, string>, xla: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (xla) env.TF_XLA_FLAGS = XLA_FLAGS;
  else delete env.TF_XLA_FLAGS;
  return env;
}

/**
 * Runs one measurement process; any failure (exit status, signal, no result, `mustLog` missing from its stderr)
 * throws with the process's stderr.
 */
function runMeasurement(
  what: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  mustLog?: { text: string; meaning: string },
): Measurement {
  const run = spawnSync(command, args, {
    encoding: 'utf8',
    // TensorFlow's start-up lines (oneDNN notice) would interleave with the output; shown only on failure.
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
    maxBuffer: 256 * 2 ** 20,
  });
  const stderr = run.stderr ? `\n--- stderr of ${what} ---\n${run.stderr.trimEnd()}\n--- end of stderr ---` : '';
  if (run.error) throw new Error(`${what} could not run: ${run.error.message}${stderr}`);
  if (run.status !== 0) {
    const how = run.signal ? `was killed by ${run.signal}` : `exited with status ${run.status}`;
    throw new Error(`${what} ${how}${stderr}`);
  }
  const line = run.stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${what} printed no result; its stdout:\n${run.stdout}${stderr}`);
  const m = JSON.parse(line) as Measurement;
  if (!(m.imagesPerSecond > 0) || !(m.peakRssBytes > 0)) throw new Error(`${what} printed a bad result: ${line}`);
  if (mustLog && !run.stderr.includes(mustLog.text)) throw new Error(`${what}: ${mustLog.meaning}${stderr}`);
  return m;
}

function measureEngine(engine: EngineKey, archFile: string, c: Case): Measurement {
  const xla = engine === 'graph-xla';
  return runMeasurement(
    `the ${engine} engine on ${c.name}`,
    process.execPath,
    [fileURLToPath(import.meta.url), '--worker', engine, archFile, String(c.warmup), String(c.steps)],
    // With INFO logs TensorFlow says when XLA compiled a cluster, which proves the flags took effect.
    childEnv(xla ? { TF_CPP_MIN_LOG_LEVEL: '0' } : {}, xla),
    xla
      ? { text: 'Compiled cluster using XLA', meaning: 'TensorFlow compiled no XLA cluster (TF_XLA_FLAGS ignored?)' }
      : undefined,
  );
}

type OneDnn = '0' | '1';
type KerasJit = 'on' | 'off';

/** A Keras run with oneDNN kernels on or off (`TF_ENABLE_ONEDNN_OPTS`) and its train step XLA-compiled or not. */
function measureKeras(python: string, archFile: string, c: Case, onednn: OneDnn, jit: KerasJit): Measurement {
  const what = `Keras (${jit === 'on' ? 'XLA' : 'no XLA'}, oneDNN ${onednn === '1' ? 'on' : 'off'}) on ${c.name}`;
  const m = runMeasurement(
    what,
    python,
    [
      join(repo, 'bench', 'keras_train.py'),
      archFile,
      '--batch-size',
      String(batchSize),
      '--warmup',
      String(c.warmup),
      '--max-warmup',
      String(c.warmup + EXTRA_WARMUP),
      '--settled',
      String(SETTLED),
      '--steps',
      String(c.steps),
      '--jit',
      jit,
    ],
    childEnv({ TF_ENABLE_ONEDNN_OPTS: onednn }, false),
  );
  if (m.xla !== (jit === 'on')) throw new Error(`${what}: Keras ran its train step with XLA ${m.xla ? 'on' : 'off'}`);
  return m;
}

/**
 * Runs in a child process: `engine.trainStep` of one engine (trainer/engine.ts) on clones of a fixed batch, after a
 * warmup that goes on until the step time settles (the graph engine compiles its session on the first step, XLA its
 * clusters on the first runs).
 */
async function worker(engineKey: string, archFile: string, warmup: number, steps: number): Promise<void> {
  if (!(engineKeys as readonly string[]).includes(engineKey)) {
    throw new Error(`unknown engine ${engineKey} (one of ${engineKeys.join(', ')})`);
  }
  const xla = engineKey === 'graph-xla';
  // XLA auto-clustering is read from the environment when TensorFlow loads, so the parent sets it, not us.
  if (xla !== (process.env.TF_XLA_FLAGS === XLA_FLAGS)) {
    throw new Error(`${engineKey} needs TF_XLA_FLAGS ${xla ? `="${XLA_FLAGS}"` : 'unset'} in its environment`);
  }
  const { readFileSync } = await import('node:fs');
  const { loadNativeTf } = await import('../trainer/tf.js');
  const { buildModel, countParams } = await import('../trainer/model.js');
  const { createEngine } = await import('../trainer/create-engine.js');
  const { Training } = await import('../schemas/task.js');
  // As trainCandidate loads it, so the step measured is the one a training runs.
  const tf = loadNativeTf('tensorflow', { onednn: true });
  const arch = JSON.parse(readFileSync(archFile, 'utf8')) as Architecture;
  const model = buildModel(arch, tf, { seed: 0 });
  const training = Training.parse({ batchSize });
  const engine = createEngine(xla ? 'graph' : (engineKey as 'graph' | 'eager'), {
    tf,
    model,
    architecture: arch,
    training,
  });
  const xs = tf.randomNormal([batchSize, arch.resolution, arch.resolution, arch.inputChannels], 0, 1, 'float32', 0);
  const labels = Int32Array.from({ length: batchSize }, (_, i) => i % arch.classes);
  const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), arch.classes).toFloat();
  // trainStep disposes its batch, so each step gets clones of the fixed tensors.
  const step = async () => {
    const { loss } = await engine.trainStep(
      { form: 'normalized', xs: xs.clone(), ys: ys.clone(), labels, size: batchSize },
      training.learningRate,
    );
    if (!Number.isFinite(loss)) throw new Error(`${engineKey}: loss ${loss}`);
  };
  const timed = async () => {
    const t0 = performance.now();
    await step();
    return (performance.now() - t0) / 1000;
  };
  const warmupTimes: number[] = [];
  let settled = false;
  while (warmupTimes.length < warmup + EXTRA_WARMUP) {
    const seconds = await timed();
    settled = warmupTimes.length >= warmup && seconds <= SETTLED * Math.min(...warmupTimes);
    warmupTimes.push(seconds);
    if (settled) break;
  }
  const start = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const seconds = (performance.now() - start) / 1000;
  const result: Measurement & { engine: string } = {
    engine: engineKey,
    imagesPerSecond: (batchSize * steps) / seconds,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    params: countParams(model),
    warmupSteps: warmupTimes.length,
    firstStepSeconds: warmupTimes[0] ?? 0,
    settled,
  };
  engine.dispose();
  console.log(JSON.stringify(result));
}

const best = <T extends { m: Measurement }>(runs: T[]): T =>
  runs.reduce((a, b) => (b.m.imagesPerSecond > a.m.imagesPerSecond ? b : a));

interface KerasEntry {
  imagesPerSecond: number;
  peakRssBytes: number;
  xla: boolean;
  onednn: boolean;
}

interface CaseResult {
  name: string;
  params: { trainable: number; total: number };
  engines: Record<EngineKey, { imagesPerSecond: number; peakRssBytes: number }>;
  /** The fastest Keras configuration. */
  keras: KerasEntry;
  kerasXla: KerasEntry;
  kerasNoXla: KerasEntry;
  ratio: number;
}

async function main(json: boolean): Promise<void> {
  for (const [name, value] of [
    ['BENCH_BATCH', batchSize],
    ['BENCH_ROUNDS', rounds],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  }
  const mainEngine = defaultEngine('tensorflow');
  // With --json, stdout carries the JSON object only.
  const say = (line: string) => (json ? console.error(line) : console.log(line));
  const progress = (line: string) => console.error(line);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const load = () => loadavg().map((l) => Math.round(l * 100) / 100);
  const loadStart = load();
  const python = kerasPython();
  const dir = mkdtempSync(join(tmpdir(), 'effscale-bench-train-'));
  say(
    `training throughput, batch ${batchSize}, Adam, one fixed random batch (no data loading); tfjs-node engines on ` +
      `libtensorflow ${TF_VERSION} vs Keras ${TF_VERSION} (${cpus().length} CPUs, load average ${loadStart.join(' ')})`,
  );
  say(
    `each figure: its own process (peak RSS its own), best of ${rounds} alternating round(s); timed after a warmup ` +
      `of at least ${cases.map((c) => c.warmup).join('/')} steps that goes on until a step is no slower than ` +
      `${SETTLED}× the fastest before it, so graph compilation and XLA cluster compilation are excluded`,
  );
  say(
    `graph-xla: the graph engine with TF_XLA_FLAGS="${XLA_FLAGS}"; Keras: train step with XLA (jit_compile=True) ` +
      `and without, oneDNN on and off, best Keras = the fastest of the four; default engine: ${mainEngine}; ` +
      'ratio = engine / best Keras',
  );

  const results: CaseResult[] = [];
  try {
    for (const c of cases) {
      const archFile = join(dir, `${c.arch.name}.json`);
      writeFileSync(archFile, JSON.stringify(c.arch));
      // Rounds alternate all configurations so a burst of load on this shared machine does not fall on one only; the
      // best of each is kept.
      const engineRuns = new Map<EngineKey, { m: Measurement }[]>(engineKeys.map((k) => [k, []]));
      const kerasRuns: { onednn: OneDnn; jit: KerasJit; m: Measurement }[] = [];
      for (let round = 1; round <= rounds; round++) {
        const tag = `[${c.arch.name} round ${round}/${rounds}]`;
        for (const engine of engineKeys) {
          const m = measureEngine(engine, archFile, c);
          engineRuns.get(engine)?.push({ m });
          progress(
            `${tag} ${engine}: ${m.imagesPerSecond.toFixed(1)} img/s, peak RSS ${mib(m.peakRssBytes)} ` +
              `(first step ${m.firstStepSeconds.toFixed(2)} s, ${m.warmupSteps} warmup steps` +
              `${m.settled ? '' : ', step time did not settle'})`,
          );
        }
        for (const jit of ['on', 'off'] as const) {
          for (const onednn of ['0', '1'] as const) {
            const m = measureKeras(python, archFile, c, onednn, jit);
            kerasRuns.push({ onednn, jit, m });
            progress(
              `${tag} Keras ${jit === 'on' ? 'XLA' : 'no XLA'}, oneDNN ${onednn === '1' ? 'on' : 'off'}: ` +
                `${m.imagesPerSecond.toFixed(1)} img/s, peak RSS ${mib(m.peakRssBytes)} ` +
                `(first step ${m.firstStepSeconds.toFixed(2)} s, ${m.warmupSteps} warmup steps` +
                `${m.settled ? '' : ', step time did not settle'})`,
            );
          }
        }
      }
      const all = [...[...engineRuns.values()].flat(), ...kerasRuns];
      const params = all[0]?.m.params ?? { trainable: 0, total: 0 };
      for (const { m } of all) {
        if (m.params.total !== params.total || m.params.trainable !== params.trainable) {
          throw new Error(
            `${c.name}: the builds differ (${JSON.stringify(m.params)} vs ${JSON.stringify(params)} parameters)`,
          );
        }
      }
      const kerasEntry = (jit?: KerasJit): KerasEntry => {
        const b = best(kerasRuns.filter((r) => jit === undefined || r.jit === jit));
        return {
          imagesPerSecond: b.m.imagesPerSecond,
          peakRssBytes: b.m.peakRssBytes,
          xla: b.jit === 'on',
          onednn: b.onednn === '1',
        };
      };
      const engines = Object.fromEntries(
        engineKeys.map((k) => {
          const { m } = best(engineRuns.get(k) ?? []);
          return [k, { imagesPerSecond: m.imagesPerSecond, peakRssBytes: m.peakRssBytes }];
        }),
      ) as CaseResult['engines'];
      const keras = kerasEntry();
      results.push({
        name: c.name,
        params,
        engines,
        keras,
        kerasXla: kerasEntry('on'),
        kerasNoXla: kerasEntry('off'),
        ratio: engines[mainEngine].imagesPerSecond / keras.imagesPerSecond,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const loadEnd = load();

  if (json) {
    const round2 = (x: number) => Math.round(x * 100) / 100;
    const entry = <T extends { imagesPerSecond: number }>(e: T): T => ({
      ...e,
      imagesPerSecond: round2(e.imagesPerSecond),
    });
    const output = {
      tfVersion: TF_VERSION,
      batchSize,
      rounds,
      cpus: cpus().length,
      loadAverage: { start: loadStart, end: loadEnd },
      defaultEngine: mainEngine,
      cases: results.map((r) => ({
        name: r.name,
        params: r.params,
        engines: Object.fromEntries(engineKeys.map((k) => [k, entry(r.engines[k])])),
        keras: entry(r.keras),
        kerasXla: entry(r.kerasXla),
        kerasNoXla: entry(r.kerasNoXla),
        ratio: Math.round(r.ratio * 1000) / 1000,
      })),
    };
    console.log(JSON.stringify(output, null, 2));
    return;
  }

  const ips = (x: number) => `${x.toFixed(1)} img/s`.padStart(12);
  const times = (x: number) => `${x.toFixed(2)}×`.padStart(7);
  for (const r of results) {
    console.log('');
    console.log(`${r.name} (${r.params.total} parameters)`);
    const row = (label: string, e: { imagesPerSecond: number; peakRssBytes: number }) =>
      console.log(
        `  ${label.padEnd(36)} ${ips(e.imagesPerSecond)} ${mib(e.peakRssBytes).padStart(9)}  ` +
          times(e.imagesPerSecond / r.keras.imagesPerSecond),
      );
    console.log(`  ${''.padEnd(36)} ${'images/s'.padStart(12)} ${'peak RSS'.padStart(9)}  ÷ best Keras`);
    for (const k of engineKeys) row(`${k}${k === mainEngine ? ' (default)' : ''}`, r.engines[k]);
    for (const [label, e] of [
      ['Keras, XLA', r.kerasXla],
      ['Keras without XLA', r.kerasNoXla],
    ] as const) {
      const isBest = e.xla === r.keras.xla;
      row(`${label}, oneDNN ${e.onednn ? 'on' : 'off'}${isBest ? ' (best)' : ''}`, e);
    }
    console.log(
      `  ratio (${mainEngine} / best Keras) ${r.ratio.toFixed(2)}× ` +
        `${r.ratio >= 1 ? '(meets the ≥ 1.0× target)' : '(below the ≥ 1.0× target)'}`,
    );
  }
  console.log('');
  console.log(`load average at the end ${loadEnd.join(' ')}`);
}

const args = process.argv.slice(2);
if (args[0] === '--worker') {
  // A failure exits non-zero with the stack on stderr, which the parent prints.
  await worker(args[1] ?? '', args[2] ?? '', Number(args[3]), Number(args[4]));
} else {
  try {
    const unknown = args.filter((a) => a !== '--json');
    if (unknown.length) throw new Error(`unknown argument(s) ${unknown.join(' ')} (usage: bench:train [-- --json])`);
    await main(args.includes('--json'));
  } catch (error) {
    console.error(`bench:train failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
