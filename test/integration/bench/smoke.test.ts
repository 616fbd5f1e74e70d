import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { photoFolder } from '../trainer/photos.js';

/*
 * Every `npm run bench:*` at a tiny size, so a change that breaks a benchmark fails the suite instead of waiting
 * for the next person who measures (bench:pipeline had crashed unnoticed since successive halving landed). The
 * figures at these sizes mean nothing; the shape of the output and the exit code do.
 */

const run = promisify(execFile);
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

async function bench(name: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await run(process.execPath, [join(dist, 'bench', `${name}.js`), ...args], {
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', ...env },
    maxBuffer: 1 << 24,
    timeout: 600_000,
  });
  return stdout;
}

/** The last JSON value a bench printed (some print progress lines before it). */
function lastJson(stdout: string): unknown {
  const start = stdout.search(/^[[{]/m);
  assert.ok(start >= 0, `no JSON in:\n${stdout}`);
  return JSON.parse(stdout.slice(start));
}

test('bench:input: effscale against Python tf.data on a small photo folder, and an end-to-end training', async () => {
  const folder = await photoFolder({ classes: 4, train: 96, val: 16 });
  const report = lastJson(await bench('input', ['--json', '--folder', folder, '--batches', '2'])) as {
    cases: { name: string; threads: number; imagesPerSecond: number; tfdataImagesPerSecond: number; ratio: number }[];
    endToEnd: { imagesPerSecond: number; computeOnlyImagesPerSecond: number; inputWaitFraction: number };
  };
  assert.deepEqual(
    report.cases.map((c) => c.threads),
    [1, 2],
  );
  for (const c of report.cases) {
    assert.ok(c.imagesPerSecond > 0 && c.tfdataImagesPerSecond > 0, JSON.stringify(c));
    assert.ok(Math.abs(c.ratio - c.imagesPerSecond / c.tfdataImagesPerSecond) < 1e-9);
  }
  const { endToEnd } = report;
  assert.ok(endToEnd.imagesPerSecond > 0 && endToEnd.computeOnlyImagesPerSecond >= endToEnd.imagesPerSecond);
  assert.ok(endToEnd.inputWaitFraction >= 0 && endToEnd.inputWaitFraction < 1);
});

test('bench:index: a small generated tree against the old per-file walk', async () => {
  const report = lastJson(await bench('index', ['--json', '--files', '3000'])) as {
    images: number;
    index: { imagesPerSecond: number };
    indexFile: { bytesPerImage: number };
    baseline: { imagesPerSecond: number };
  };
  assert.equal(report.images, 3000);
  assert.ok(report.index.imagesPerSecond > 0 && report.baseline.imagesPerSecond > 0);
  assert.ok(report.indexFile.bytesPerImage > 0 && report.indexFile.bytesPerImage <= 128, JSON.stringify(report));
});

test('bench:pipeline: orchestration overhead with the no-op trainer', async () => {
  const rows = lastJson(
    await bench('pipeline', ['--json'], { BENCH_CANDIDATES: '10', BENCH_PROCESS_CANDIDATES: '3' }),
  ) as { mode: string; candidates: number; eventsPerCandidate: number }[];
  assert.deepEqual(
    rows.map((r) => r.candidates),
    [10, 3],
  );
  for (const r of rows) assert.ok(r.eventsPerCandidate > 0, JSON.stringify(r));
});

test('bench (plan-grid): a 10,000-point grid against the naive planner', async () => {
  const out = await bench('plan-grid');
  assert.match(out, /speed-up vs naive: [\d.]+×/);
});

test('bench:serve: the model alone, serve at 1, 8 and 32 clients, and a hostile phase all answered 4xx', async () => {
  const report = lastJson(await bench('serve', ['--json', '--workers', '1'], { BENCH_SECONDS: '1' })) as {
    workers: number;
    modelImagesPerSecond: number;
    levels: { clients: number; rps: number; meanBatch: number; failed: number }[];
    hostile: { requests: number; status4xx: number; status5xx: number; peakRssMiB: number; boundMiB: number };
  };
  assert.equal(report.workers, 1);
  assert.ok(report.modelImagesPerSecond > 0);
  assert.deepEqual(
    report.levels.map((l) => l.clients),
    [1, 8, 32],
  );
  for (const level of report.levels)
    assert.ok(level.rps > 0 && level.meanBatch >= 1 && level.failed === 0, JSON.stringify(level));
  const { hostile } = report;
  assert.ok(
    hostile.requests > 0 && hostile.status4xx === hostile.requests && hostile.status5xx === 0,
    JSON.stringify(hostile),
  );
  assert.ok(hostile.peakRssMiB > 0 && hostile.peakRssMiB <= hostile.boundMiB, JSON.stringify(hostile));
});

test('bench:train: the engines and Keras on micro-28, one round', async () => {
  const report = lastJson(
    await bench('train', ['--json'], { BENCH_ROUNDS: '1', BENCH_BATCH: '8', BENCH_CASES: '1' }),
  ) as { cases: { name: string; engines: Record<string, { imagesPerSecond: number }>; ratio: number }[] };
  assert.equal(report.cases.length, 1);
  const [micro] = report.cases;
  assert.match(micro.name, /micro-28/);
  for (const engine of ['graph', 'eager']) assert.ok(micro.engines[engine]?.imagesPerSecond > 0, engine);
  assert.ok(micro.ratio > 0);
});

test('bench:search: the same search exhaustive and with successive halving, one epoch', async () => {
  const out = await bench('search', ['--json'], { BENCH_EPOCHS: '1' });
  const report = lastJson(out) as {
    exhaustive: { cost: unknown; chosen: unknown };
    halving: { cost: unknown; chosen: unknown; rankInExhaustive: unknown };
    costRatio: number;
    macsRatio: number;
  };
  assert.ok(report.exhaustive.chosen && report.halving.chosen, out);
  assert.ok(report.costRatio > 0 && report.macsRatio > 0, out);
});
