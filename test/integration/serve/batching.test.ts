import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { Registry } from '../../../registry/registry.js';
import { loadRegisteredModel } from '../../../serve/load.js';
import { ServeOptions, type ServeOptionsInput } from '../../../serve/options.js';
import { PredictionServer } from '../../../serve/server.js';
import { loadNativeTf } from '../../../trainer/tf.js';
import { fashionImages, nestedArray, registeredMicro28 } from './fixture.js';

const tf = loadNativeTf();
const TOKEN = 'serve-test-token-0123456789';

/**
 * The batcher's guarantees, on the real server and model: a bounded queue that refuses with 503 and recovers,
 * deadlines, and work of clients that hung up dropped before it runs. Batches are held back with `maxWaitMs` so
 * requests are reliably waiting when the test acts; the server's own metrics say what ran.
 */

/** A server of its own with the model registered under `root` (closing a server disposes its model's session). */
async function start(root: string, options: ServeOptionsInput) {
  const server = new PredictionServer(tf, 'micro', ServeOptions.parse({ port: 0, metricsPort: 0, ...options }));
  server.setModel(await loadRegisteredModel(tf, new Registry(join(root, 'registry')), 'micro'));
  const base = `http://127.0.0.1:${await server.listen()}`;
  const metricsUrl = `http://127.0.0.1:${await server.listenMetrics()}/metrics`;
  return { server, base, metricsUrl };
}

/** The server's counters that say what the model ran and what was dropped. */
async function counters(url: string, headers: Record<string, string> = {}) {
  const text = await (await fetch(url, { headers })).text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
  return {
    instances: value(/^effscale_serve_instances_total\{[^}]*\} (\d+)/m),
    batches: value(/^effscale_serve_batch_size_count\{[^}]*\} (\d+)/m),
    deadline: value(/^effscale_serve_dropped_instances_total\{[^}]*reason="deadline"\} (\d+)/m),
    disconnected: value(/^effscale_serve_dropped_instances_total\{[^}]*reason="disconnected"\} (\d+)/m),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('batching under load: queue bound, deadlines, disconnects (micro-28, real tfjs-node)', () => {
  let root: string;
  let body: string;

  before(async () => {
    const registered = await registeredMicro28(tf);
    registered.served.engine.dispose();
    root = registered.root;
    const [image] = await fashionImages(1);
    assert.ok(image);
    body = JSON.stringify({ instances: [nestedArray(image)] });
  });
  after(() => rm(root, { recursive: true, force: true }));

  const predict = (base: string, init: RequestInit = {}) =>
    fetch(`${base}/v1/models/micro:predict`, { method: 'POST', body, ...init });

  it('answers 503 with Retry-After when the queue is full, and serves again once it drains', async () => {
    const { server, base, metricsUrl } = await start(root, { maxInstances: 4, maxQueue: 4, maxWaitMs: 300 });
    try {
      const answers = await Promise.all(Array.from({ length: 10 }, () => predict(base)));
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [200, 200, 200, 200, 503, 503, 503, 503, 503, 503]);
      const refused = answers.find((a) => a.status === 503);
      assert.equal(refused?.headers.get('retry-after'), '1');
      assert.match(((await refused?.json()) as { error: string }).error, /queue holds 4 instances \(at most 4\)/);
      assert.equal((await counters(metricsUrl)).instances, 4, 'only the admitted requests ran');
      const again = await predict(base);
      assert.equal(again.status, 200, 'the server recovers once the queue drains');
    } finally {
      await server.close();
    }
  });

  it('answers 504 when the deadline passes before the model runs the request, which then never runs', async () => {
    const { server, base, metricsUrl } = await start(root, { deadlineMs: 100, maxWaitMs: 400 });
    try {
      const res = await predict(base);
      assert.equal(res.status, 504);
      assert.match(((await res.json()) as { error: string }).error, /deadline passed after \d+ ms in the queue/);
      const after = await counters(metricsUrl);
      assert.equal(after.deadline, 1);
      assert.equal(after.instances, 0, 'the expired instance was not run');
    } finally {
      await server.close();
    }
  });

  it('drops the work of a client that hung up before its batch ran', async () => {
    const { server, base, metricsUrl } = await start(root, { maxWaitMs: 500 });
    try {
      const gone = new AbortController();
      const abandoned = predict(base, { signal: gone.signal });
      await sleep(150);
      gone.abort();
      await assert.rejects(abandoned);
      const kept = predict(base);
      assert.equal((await kept).status, 200);
      const after = await counters(metricsUrl);
      assert.equal(after.disconnected, 1, 'one instance dropped because its client went away');
      assert.equal(after.instances, 1, 'only the kept request ran');
      assert.equal(after.batches, 1);
    } finally {
      await server.close();
    }
  });

  it('splits a request over batches of at most maxBatch, each run at its own size unless sizes are allowed', async () => {
    const [image] = await fashionImages(1);
    assert.ok(image);
    const instances = (n: number) => JSON.stringify({ instances: Array.from({ length: n }, () => nestedArray(image)) });
    const padding = async (metricsUrl: string) =>
      Number(
        /^effscale_serve_padding_instances_total\{[^}]*\} (\d+)/m.exec(await (await fetch(metricsUrl)).text())?.[1],
      );
    const run = async (options: ServeOptionsInput) => {
      const { server, base, metricsUrl } = await start(root, options);
      try {
        for (const n of [5, 20]) {
          const response = await predict(base, { body: instances(n) });
          assert.equal(((await response.json()) as { predictions: unknown[] }).predictions.length, n);
        }
        assert.deepEqual(await counters(metricsUrl), { instances: 25, batches: 4, deadline: 0, disconnected: 0 });
        return await padding(metricsUrl);
      } finally {
        await server.close();
      }
    };
    assert.equal(await run({ maxBatch: 8 }), 0, '5, then 8 + 8 + 4: every batch at its own size');
    assert.equal(await run({ maxBatch: 8, allowedBatchSizes: [2, 8] }), 3 + 4, '5 padded to 8, then 8 + 8 + 4 → 8');
  });

  it('refuses allowed batch sizes that do not increase or do not end with maxBatch, naming the option', () => {
    for (const allowedBatchSizes of [
      [4, 16],
      [8, 4, 32],
      [4, 4, 32],
    ])
      assert.throws(() => ServeOptions.parse({ maxBatch: 32, allowedBatchSizes }), /allowedBatchSizes/);
  });
});

describe('bearer token (--token-file)', () => {
  let root: string;
  let server: PredictionServer;
  let base: string;
  let metricsUrl: string;

  before(async () => {
    const registered = await registeredMicro28(tf);
    registered.served.engine.dispose();
    root = registered.root;
    ({ server, base, metricsUrl } = await start(root, { token: TOKEN }));
  });
  after(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  it('requires Authorization: Bearer on every route but health, and compares the token exactly', async () => {
    const body = JSON.stringify({ instances: [[[0]]] });
    const predict = (authorization?: string) =>
      fetch(`${base}/v1/models/micro:predict`, {
        method: 'POST',
        body,
        ...(authorization !== undefined && { headers: { authorization } }),
      });
    for (const bad of [undefined, '', 'Bearer', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`]) {
      const res = await predict(bad);
      assert.equal(res.status, 401, String(bad));
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="effscale"');
      assert.match(((await res.json()) as { error: string }).error, /needs the header 'Authorization: Bearer/);
    }
    assert.equal((await predict(`Bearer ${TOKEN}`)).status, 200);
    assert.equal((await predict(`bearer  ${TOKEN}`)).status, 200);
    assert.equal((await fetch(`${base}/v1/models/micro`)).status, 401);
    assert.equal((await fetch(`${base}/v1/models/micro/metadata`)).status, 401);
    assert.equal((await fetch(`${base}/nowhere`)).status, 401, 'no route is revealed without the token');
    assert.equal((await fetch(metricsUrl)).status, 401);
    assert.equal((await fetch(metricsUrl, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
  });

  it('refuses a token shorter than 16 characters', () => {
    assert.throws(() => ServeOptions.parse({ token: 'short' }), /at least 16 characters/);
  });
});
