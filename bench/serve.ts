/**
 * `npm run bench:serve [-- --json] [-- --workers N]`: `effscale serve` on a micro-28 model (as many server processes
 * as it starts by default, one per CPU, unless `--workers` says otherwise), from one run:
 *
 * - the model alone: images/s of its serving graph at batch 1 and 32 (one session, in this process, no HTTP);
 * - the server as deployed (its own process, loopback, one 28×28 Fashion-MNIST PNG per request) driven by
 *   autocannon at 1, 8 and 32 concurrent clients: requests/s, p50/p99 latency, and the mean batch the model ran
 *   (from the server's own metrics);
 * - a hostile phase against a fresh server: decompression bombs (headers declaring 20000² images, solid 2048²
 *   PNGs over the request's pixel budget), oversized batches, deep JSON, undecodable images and bodies over the
 *   size limit, from 32 clients. Every one must get a 4xx, and the server's peak RSS (VmHWM, summed over its
 *   processes) must stay under `BENCH_MAX_RSS_MIB` (default 768) per server process.
 *
 * Targets (docs/serving.md): at 32 clients, requests/s ≥ 0.7 × the model's images/s at batch 32 and p99 ≤ 50 ms;
 * no 5xx anywhere. Misses are printed; the exit code is 1 only on failed requests, a 5xx or the RSS bound.
 * `BENCH_SECONDS` (default 6) per level.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from '../registry/registry.js';
import { loadRegisteredModel } from '../serve/load.js';
import { ServeOptions } from '../serve/options.js';
import { openIdxSplit } from '../trainer/data/idx.js';
import { loadNativeTf, type Tf } from '../trainer/tf.js';
import { registerMicro28 } from '../test/integration/serve/fixture.js';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  '4xx': number;
  '5xx': number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const DURATION_SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const MAX_RSS_MIB = Number(process.env.BENCH_MAX_RSS_MIB ?? 768);
const BIN = join(process.cwd(), 'bin', 'effscale.js');
const LEVELS = [1, 8, 32];

interface Level {
  clients: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  meanBatch: number;
  failed: number;
}

interface Report {
  workers: number;
  modelImagesPerSecond: number;
  modelImagesPerSecondBatch1: number;
  levels: Level[];
  hostile: {
    requests: number;
    status4xx: number;
    status5xx: number;
    other: number;
    peakRssMiB: number;
    boundMiB: number;
  };
}

async function pngBody(tf: Tf): Promise<string> {
  const source = await openIdxSplit('/usr/share/datasets/fashion-mnist', 't10k', 10);
  const [image] = await source.read([0]);
  await source.close();
  if (!image) throw new Error('no Fashion-MNIST test image');
  const tensor = tf.tensor3d(image.pixels, [image.height, image.width, image.channels], 'int32');
  const png = await tf.node.encodePng(tensor);
  tensor.dispose();
  return JSON.stringify({ instances: [{ b64: Buffer.from(png).toString('base64') }] });
}

/** The serving graph alone: batches of `size` images through its session, as fast as they go. */
async function modelImagesPerSecond(tf: Tf, stateDir: string, size: number): Promise<number> {
  const served = await loadRegisteredModel(tf, new Registry(join(stateDir, 'registry')), 'micro');
  try {
    const batch = new Float32Array(size * served.engine.slot).fill(128);
    for (let i = 0; i < 20; i++) served.engine.predict(batch, size);
    let runs = 0;
    const started = performance.now();
    while (performance.now() - started < 2000) {
      served.engine.predict(batch, size);
      runs++;
    }
    return (runs * size * 1000) / (performance.now() - started);
  } finally {
    served.engine.dispose();
  }
}

interface Server {
  child: ChildProcess;
  url: string;
  metrics: string;
}

async function startServer(stateDir: string, workers: number): Promise<Server> {
  const args = [BIN, 'serve', '--model', 'micro', '--port', '0', '--metrics-port', '0', '--state-dir', stateDir];
  const child = spawn(process.execPath, [...args, '--workers', String(workers)], {
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
  });
  let stderr = '';
  const found = await new Promise<{ url: string; metrics: string }>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const url = /ready: POST (http:\/\/\S+:predict)/.exec(stderr)?.[1];
      const metrics = /metrics on (http:\/\/\S+\/metrics)/.exec(stderr)?.[1];
      if (url && metrics) resolve({ url, metrics });
    });
    child.on('exit', () => reject(new Error(`effscale serve exited: ${stderr}`)));
  });
  return { child, ...found };
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Batches run and instances in them so far, from the server's metrics. */
async function batchCounts(metricsUrl: string): Promise<{ batches: number; instances: number }> {
  const text = await (await fetch(metricsUrl)).text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    batches: value(/^effscale_serve_batch_size_count\{[^}]*\} (\d+)/m),
    instances: value(/^effscale_serve_batch_size_sum\{[^}]*\} (\d+)/m),
  };
}

async function measure(server: Server, body: string, connections: number): Promise<Level> {
  const options = {
    url: server.url,
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
    connections,
  };
  await autocannon({ ...options, duration: 1 }); // warm-up: the batch shapes' first runs, connections, allocator
  const before = await batchCounts(server.metrics);
  const r = await autocannon({ ...options, duration: DURATION_SECONDS });
  const after = await batchCounts(server.metrics);
  return {
    clients: connections,
    rps: r.requests.average,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    meanBatch: (after.instances - before.instances) / Math.max(1, after.batches - before.batches),
    failed: r.errors + r.timeouts + r.non2xx,
  };
}

/** Peak resident memory (VmHWM) of a process and its children (the cluster's workers), in MiB. */
function peakRssMiB(pid: number): number {
  const kib = (p: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
  const children = (p: number): number[] =>
    readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  const all = [pid, ...children(pid)];
  return all.reduce((sum, p) => sum + kib(p), 0) / 1024;
}

/** Requests no server may answer with anything but a 4xx, each small on the wire and expensive if trusted. */
async function hostileBodies(tf: Tf): Promise<string[]> {
  const bombHeader = Buffer.alloc(33);
  bombHeader.writeUInt32BE(0x89504e47, 0);
  bombHeader.writeUInt32BE(0x0d0a1a0a, 4);
  bombHeader.writeUInt32BE(13, 8);
  bombHeader.write('IHDR', 12, 'latin1');
  bombHeader.writeUInt32BE(20000, 16);
  bombHeader.writeUInt32BE(20000, 20);
  bombHeader.writeUInt8(8, 24);
  bombHeader.writeUInt8(2, 25);
  const zeros = tf.zeros([2048, 2048, 3], 'int32') as import('@tensorflow/tfjs-node').Tensor3D;
  const solid = Buffer.from(await tf.node.encodePng(zeros)).toString('base64');
  zeros.dispose();
  // A PNG signature and header with garbage after it: passes the header check, fails to decode.
  const broken = Buffer.concat([
    bombHeader.subarray(0, 16),
    Buffer.from([0, 0, 0, 28, 0, 0, 0, 28, 8, 0]),
    Buffer.alloc(64, 7),
  ]);
  return [
    JSON.stringify({ instances: [{ b64: bombHeader.toString('base64') }] }),
    JSON.stringify({ instances: Array.from({ length: 8 }, () => ({ b64: solid })) }),
    JSON.stringify({ instances: Array.from({ length: 300 }, () => [[0]]) }),
    `{"instances": [[[${'['.repeat(100_000)}0${']'.repeat(100_000)}]]]}`,
    JSON.stringify({ instances: [{ b64: broken.toString('base64') }] }),
    '{"instances": [[[0, 1], [2]]]',
  ];
}

async function hostilePhase(stateDir: string, workers: number, tf: Tf): Promise<Report['hostile']> {
  const server = await startServer(stateDir, workers);
  try {
    const bodies = await hostileBodies(tf);
    const r = await autocannon({
      url: server.url,
      connections: 32,
      duration: Math.max(2, DURATION_SECONDS / 2),
      requests: bodies.map((body) => ({ method: 'POST', body, headers: { 'content-type': 'application/json' } })),
    });
    // A body over the size limit gets 413 as soon as its Content-Length is read, and the connection is closed
    // under the rest of it: the client sees the 413 or, still writing, a reset. Either way it was refused.
    const oversized = JSON.stringify({ instances: [{ b64: 'A'.repeat(9 * 1024 * 1024) }] });
    const statuses = await Promise.all(
      Array.from({ length: 32 }, () =>
        fetch(server.url, { method: 'POST', body: oversized }).then(
          (res) => res.status,
          () => 413,
        ),
      ),
    );
    const big4xx = statuses.filter((s) => s >= 400 && s < 500).length;
    const big5xx = statuses.filter((s) => s >= 500).length;
    const peak = peakRssMiB(server.child.pid ?? 0);
    return {
      requests: r['2xx'] + r['4xx'] + r['5xx'] + r.errors + r.timeouts + statuses.length,
      status4xx: r['4xx'] + big4xx,
      status5xx: r['5xx'] + big5xx,
      other: r['2xx'] + r.errors + r.timeouts + statuses.length - big4xx - big5xx,
      peakRssMiB: Math.round(peak),
      boundMiB: MAX_RSS_MIB * workers,
    };
  } finally {
    await stopServer(server.child);
  }
}

async function main(json: boolean, workers: number): Promise<void> {
  const stateDir = await mkdtemp(join(tmpdir(), 'effscale-bench-serve-'));
  try {
    const tf = loadNativeTf();
    await registerMicro28(tf, stateDir);
    const body = await pngBody(tf);
    const batch1 = await modelImagesPerSecond(tf, stateDir, 1);
    const batch32 = await modelImagesPerSecond(tf, stateDir, 32);
    const levels: Level[] = [];
    const server = await startServer(stateDir, workers);
    try {
      for (const clients of LEVELS) levels.push(await measure(server, body, clients));
    } finally {
      await stopServer(server.child);
    }
    const hostile = await hostilePhase(stateDir, workers, tf);
    const report: Report = {
      workers,
      modelImagesPerSecond: Math.round(batch32),
      modelImagesPerSecondBatch1: Math.round(batch1),
      levels: levels.map((l) => ({ ...l, rps: Math.round(l.rps), meanBatch: Number(l.meanBatch.toFixed(2)) })),
      hostile,
    };
    print(report, json);
    const failed = levels.reduce((n, l) => n + l.failed, 0);
    const problems = [
      ...(failed > 0 ? [`${failed} failed requests under load`] : []),
      ...(hostile.status5xx > 0 || hostile.other > 0
        ? [`hostile phase: ${hostile.status5xx} 5xx and ${hostile.other} other answers besides 4xx`]
        : []),
      ...(hostile.peakRssMiB > hostile.boundMiB
        ? [`hostile phase: peak RSS ${hostile.peakRssMiB} MiB > ${hostile.boundMiB}`]
        : []),
    ];
    for (const problem of problems) console.error(`bench:serve: ${problem}`);
    if (problems.length) process.exitCode = 1;
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}

function print(report: Report, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  const { modelImagesPerSecond: model } = report;
  console.log(
    `effscale serve, micro-28, ${report.workers} process(es), one 28×28 PNG per request, ${DURATION_SECONDS} s per ` +
      `level, loopback\nmodel alone: ${report.modelImagesPerSecondBatch1} images/s at batch 1, ${model} at batch 32`,
  );
  console.log('clients   req/s   p50 ms   p99 ms  mean batch   failed');
  for (const l of report.levels)
    console.log(
      `${String(l.clients).padStart(7)} ${String(l.rps).padStart(7)} ${l.p50Ms.toFixed(1).padStart(8)} ` +
        `${l.p99Ms.toFixed(1).padStart(8)} ${l.meanBatch.toFixed(2).padStart(11)} ${String(l.failed).padStart(8)}`,
    );
  const top = report.levels.at(-1);
  if (top)
    console.log(
      `at ${top.clients} clients: ${(top.rps / model).toFixed(2)}× the model's batch-32 images/s (target ≥ 0.70), ` +
        `p99 ${top.p99Ms} ms (target ≤ 50)`,
    );
  const h = report.hostile;
  console.log(
    `hostile: ${h.requests} requests, ${h.status4xx} 4xx, ${h.status5xx} 5xx; peak RSS ${h.peakRssMiB} MiB ` +
      `(bound ${h.boundMiB})`,
  );
}

const args = process.argv.slice(2);
const workersAt = args.indexOf('--workers');
const workers = workersAt >= 0 ? Number(args[workersAt + 1]) : ServeOptions.parse({}).workers;
const unknown = args.filter((a, i) => a !== '--json' && i !== workersAt && i !== workersAt + 1);
if (unknown.length || !(Number.isInteger(workers) && workers >= 1)) {
  console.error(`bench:serve: usage: bench:serve [-- --json] [--workers N]`);
  process.exitCode = 2;
} else await main(args.includes('--json'), workers);
