import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openIdxSplit } from '../trainer/data/idx.js';
import { loadNativeTf } from '../trainer/tf.js';
import { registerMicro28 } from '../test/integration/serve/fixture.js';

/**
 * `npm run bench:serve`: requests/s and p50/p99 latency of `effscale serve` with a micro-28 model on loopback, at 1
 * and 32 concurrent clients, with micro-batching on and off (measured in this run), one Fashion-MNIST PNG per
 * request. The server runs as its own process, as deployed; autocannon drives it from this one.
 */

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const DURATION_SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const BIN = join(process.cwd(), 'bin', 'effscale.js');

async function requestBody(): Promise<string> {
  const tf = loadNativeTf();
  const source = await openIdxSplit('/usr/share/datasets/fashion-mnist', 't10k', 10);
  const [image] = await source.read([0]);
  await source.close();
  if (!image) throw new Error('no Fashion-MNIST test image');
  const tensor = tf.tensor3d(image.pixels, [image.height, image.width, image.channels], 'int32');
  const png = await tf.node.encodePng(tensor);
  tensor.dispose();
  return JSON.stringify({ instances: [{ b64: Buffer.from(png).toString('base64') }] });
}

async function startServer(stateDir: string, maxBatchSize: number): Promise<{ child: ChildProcess; url: string }> {
  const args = [BIN, 'serve', '--model', 'micro', '--port', '0', '--state-dir', stateDir];
  const child = spawn(process.execPath, [...args, '--max-batch-size', String(maxBatchSize), '--max-wait-ms', '2']);
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const found = /ready: POST (http:\/\/\S+:predict)/.exec(stderr)?.[1];
      if (found) resolve(found);
    });
    child.on('exit', () => reject(new Error(`effscale serve exited: ${stderr}`)));
  });
  return { child, url };
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

interface Row {
  batching: string;
  clients: number;
  rps: number;
  p50: number;
  p99: number;
  failed: number;
}

async function measure(url: string, body: string, connections: number): Promise<Omit<Row, 'batching'>> {
  const options = { url, method: 'POST', body, headers: { 'content-type': 'application/json' }, connections };
  await autocannon({ ...options, duration: 1 }); // warm-up: graph compilation, allocator, connection setup
  const r = await autocannon({ ...options, duration: DURATION_SECONDS });
  return {
    clients: connections,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    failed: r.errors + r.timeouts + r.non2xx,
  };
}

const stateDir = await mkdtemp(join(tmpdir(), 'effscale-bench-serve-'));
try {
  await registerMicro28(loadNativeTf(), stateDir);
  const body = await requestBody();
  const rows: Row[] = [];
  for (const [batching, maxBatchSize] of [
    ['off', 1],
    ['on', 32],
  ] as const) {
    const { child, url } = await startServer(stateDir, maxBatchSize);
    try {
      for (const clients of [1, 32]) rows.push({ batching, ...(await measure(url, body, clients)) });
    } finally {
      await stopServer(child);
    }
  }
  console.log(`effscale serve, micro-28, one 28×28 PNG per request, ${DURATION_SECONDS} s per run, loopback`);
  console.log('batching  clients   req/s   p50 ms   p99 ms   failed');
  for (const r of rows)
    console.log(
      `${r.batching.padEnd(9)} ${String(r.clients).padStart(7)} ${r.rps.toFixed(1).padStart(7)} ` +
        `${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${String(r.failed).padStart(8)}`,
    );
  const at = (batching: string, clients: number) => rows.find((r) => r.batching === batching && r.clients === clients);
  const on = at('on', 32);
  const off = at('off', 32);
  if (on && off) console.log(`batching gain at 32 clients: ${(on.rps / off.rps).toFixed(2)}× requests/s (on / off)`);
  const failed = rows.reduce((n, r) => n + r.failed, 0);
  if (failed > 0) {
    console.error(`bench:serve: ${failed} failed requests`);
    process.exitCode = 1;
  }
} finally {
  await rm(stateDir, { recursive: true, force: true });
}
