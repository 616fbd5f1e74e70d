import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { architectureCost } from '../../../scaling/cost.js';
import { getPreset } from '../../../scaling/presets.js';
import { FASHION_MNIST_LABELS } from '../../../serve/labels.js';
import { ServeOptions, type ServeOptionsInput } from '../../../serve/options.js';
import { PredictionServer } from '../../../serve/server.js';
import type { ServedModel } from '../../../serve/model.js';
import type { RawImage } from '../../../trainer/data/source.js';
import { preprocessImages } from '../../../trainer/preprocess.js';
import { loadNativeTf } from '../../../trainer/tf.js';
import { fashionImages, nestedArray, pngBase64, reference, registeredMicro28 } from './fixture.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;

const tf = loadNativeTf();

async function start(served: ServedModel | undefined, options: ServeOptionsInput = {}) {
  const server = new PredictionServer(tf, 'micro', ServeOptions.parse({ port: 0, ...options }));
  if (served) server.setModel(served);
  const port = await server.listen();
  const metricsPort = await server.listenMetrics();
  return { server, base: `http://127.0.0.1:${port}`, metrics: `http://127.0.0.1:${metricsPort}/metrics` };
}

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** A PNG whose header says 28×28 gray, followed by bytes that are no image data. */
function corruptPng(): Buffer {
  const header = Buffer.alloc(33);
  header.writeUInt32BE(0x89504e47, 0);
  header.writeUInt32BE(0x0d0a1a0a, 4);
  header.writeUInt32BE(13, 8);
  header.write('IHDR', 12, 'latin1');
  header.writeUInt32BE(28, 16);
  header.writeUInt32BE(28, 20);
  header.writeUInt8(8, 24);
  return Buffer.concat([header, Buffer.alloc(64, 7)]);
}

function at<T>(list: readonly T[], index: number): T {
  const value = list[index];
  assert.ok(value !== undefined, `no element ${index}`);
  return value;
}

/** The tfjs-layers model's own prediction on the trainer's preprocessing: what the serving graph must match. */
function expected(model: LayersModel, served: ServedModel, image: RawImage): number[] {
  return tf.tidy(() => {
    const raw = tf.tensor3d(image.pixels, [image.height, image.width, image.channels], 'float32');
    return (
      model.predict(preprocessImages(tf, raw, served.input)) as import('@tensorflow/tfjs-node').Tensor2D
    ).arraySync()[0] as number[];
  });
}

describe('prediction server (micro-28, real tfjs-node, Fashion-MNIST images)', () => {
  let served: ServedModel;
  let model: LayersModel;
  let dir: string;
  let images: RawImage[];
  let server: PredictionServer;
  let base: string;
  let metricsUrl: string;

  before(async () => {
    ({ served, root: dir } = await registeredMicro28(tf));
    model = await reference(tf, dir);
    images = await fashionImages(4);
    ({ server, base, metrics: metricsUrl } = await start(served, { maxBatch: 8, maxWaitMs: 20, metricsPort: 0 }));
  });
  after(async () => {
    await server.close();
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('predicts base64 PNGs and nested arrays through the graph as the tfjs model does on trainer preprocessing', async () => {
    const instances = [{ b64: await pngBase64(tf, at(images, 0)) }, nestedArray(at(images, 1))];
    const { status, json } = await post(`${base}/v1/models/micro:predict`, { instances });
    assert.equal(status, 200, JSON.stringify(json));
    const predictions = json.predictions as {
      probabilities: number[];
      top_k: { label: string; index: number; score: number }[];
    }[];
    assert.equal(predictions.length, 2);
    predictions.forEach((p, i) => {
      const want = expected(model, served, at(images, i));
      assert.equal(p.probabilities.length, 10);
      p.probabilities.forEach((v, c) =>
        assert.ok(Math.abs(v - at(want, c)) < 1e-5, `instance ${i} class ${c}: ${v} vs ${want[c]}`),
      );
      assert.ok(Math.abs(p.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4);
      assert.equal(p.top_k.length, 5);
      const best = want.indexOf(Math.max(...want));
      assert.equal(at(p.top_k, 0).index, best);
      assert.equal(at(p.top_k, 0).label, FASHION_MNIST_LABELS[best]);
      for (let k = 1; k < p.top_k.length; k++) assert.ok(at(p.top_k, k - 1).score >= at(p.top_k, k).score);
    });
  });

  it('resizes and converts images of another size and channel count like the trainer', async () => {
    const rgb = tf.tidy(() => tf.tile(tf.tensor3d(at(images, 2).pixels, [28, 28, 1], 'int32'), [2, 2, 3]));
    const b64 = Buffer.from(await tf.node.encodePng(rgb as import('@tensorflow/tfjs-node').Tensor3D)).toString(
      'base64',
    );
    const want = tf.tidy(
      () =>
        (
          model.predict(
            preprocessImages(tf, rgb.toFloat() as import('@tensorflow/tfjs-node').Tensor3D, served.input),
          ) as import('@tensorflow/tfjs-node').Tensor2D
        ).arraySync()[0] as number[],
    );
    rgb.dispose();
    const { status, json } = await post(`${base}/v1/models/micro/versions/1:predict`, { instances: [{ b64 }] });
    assert.equal(status, 200, JSON.stringify(json));
    at(json.predictions as { probabilities: number[] }[], 0).probabilities.forEach((v, c) =>
      assert.ok(Math.abs(v - at(want, c)) < 1e-5),
    );
  });

  it('answers 400 naming the instance and what is expected', async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /instances: .*expected \{"instances"/],
      [{ instances: [] }, /at least one instance/],
      ['{not json', /body: not valid JSON/],
      [
        { instances: [nestedArray(at(images, 0)), { b64: 'aGVsbG8=' }] },
        /instances\[1\]\.b64: not a base64 PNG or JPEG/,
      ],
      [{ instances: [[[1, 2], [3]]] }, /instances\[0\]\[1\]: expected a row of 2 pixels/],
      [{ instances: [[[1, 'x']]] }, /instances\[0\]\[0\]\[1\]: expected a pixel value 0–255, got "x"/],
      [
        {
          instances: [
            [
              [1, 2],
              [3, 900],
            ],
          ],
        },
        /instances\[0\]\[1\]\[1\]: expected a pixel value 0–255, got 900/,
      ],
      [{ instances: [{ image: 'x' }] }, /instances\[0\]: expected \{"b64"/],
      [{ instances: [[[[1, 2]]]] }, /instances\[0\]\[0\]\[0\]: 2 channels; expected 1, 3 or 4/],
      [{ instances: Array.from({ length: 300 }, () => [[0]]) }, /at most 256 per request/],
      [{ instances: [[[0]]], signature_name: 'train' }, /signature_name: 'train', this model has only serving_default/],
      // A valid PNG header over garbage: sized from its header, refused when its batch decodes it.
      [
        { instances: [nestedArray(at(images, 0)), { b64: corruptPng().toString('base64') }] },
        /instances\[1\]\.b64: the image does not decode/,
      ],
    ];
    for (const [body, message] of cases) {
      const { status, json } = await post(`${base}/v1/models/micro:predict`, body);
      assert.equal(status, 400, JSON.stringify(body).slice(0, 80));
      assert.match(String(json.error), message);
    }
  });

  it('hostile input: sizes are read from headers before any decode; deep values and bad escapes are 400s', async () => {
    // A PNG header declaring 20000×20000 (decoded, 1.2 GB): refused from its 26 header bytes.
    const header = Buffer.alloc(33);
    header.writeUInt32BE(0x89504e47, 0);
    header.writeUInt32BE(0x0d0a1a0a, 4);
    header.writeUInt32BE(13, 8);
    header.write('IHDR', 12, 'latin1');
    header.writeUInt32BE(20000, 16);
    header.writeUInt32BE(20000, 20);
    header.writeUInt8(8, 24);
    header.writeUInt8(2, 25);
    const bomb = await post(`${base}/v1/models/micro:predict`, { instances: [{ b64: header.toString('base64') }] });
    assert.equal(bomb.status, 400);
    assert.match(String(bomb.json.error), /instances\[0\]\.b64: 20000×20000 image, at most 2048 pixels per side/);

    // Solid 2048² PNGs: a small request that would decode to 400 MB of floats. Refused before decoding.
    const solid = Buffer.from(
      await tf.node.encodePng(tf.zeros([2048, 2048, 3], 'int32') as import('@tensorflow/tfjs-node').Tensor3D),
    ).toString('base64');
    const rssBefore = process.memoryUsage().rss;
    const many = await post(`${base}/v1/models/micro:predict`, {
      instances: Array.from({ length: 8 }, () => ({ b64: solid })),
    });
    assert.equal(many.status, 400);
    assert.match(String(many.json.error), /100663296 pixel values .* at most 67108864 per request/);
    assert.ok(process.memoryUsage().rss - rssBefore < 200 * 1024 * 1024, 'nothing was decoded');

    // A value nested 50,000 deep in a pixel slot parses, and is described, not serialized, in the answer.
    const deep = `{"instances": [[[${'['.repeat(50_000)}0${']'.repeat(50_000)}]]]}`;
    const nested = await post(`${base}/v1/models/micro:predict`, deep);
    assert.equal(nested.status, 400);
    assert.match(String(nested.json.error), /instances\[0\]\[0\]\[0\]: expected a pixel value 0–255, got an array/);

    const escape = await fetch(`${base}/v1/models/%E0%A4%A:predict`, { method: 'POST', body: '{}' });
    assert.equal(escape.status, 400);
    assert.match(String(((await escape.json()) as { error: string }).error), /malformed %-escape/);
  });

  it('answers 404 for another model or version, 405 for a wrong method, 413 over the body limit', async () => {
    assert.equal((await post(`${base}/v1/models/other:predict`, { instances: [[[0]]] })).status, 404);
    const version = await post(`${base}/v1/models/micro/versions/9:predict`, { instances: [[[0]]] });
    assert.equal(version.status, 404);
    assert.match(String(version.json.error), /no version 9.*serving version v1/);
    assert.equal((await fetch(`${base}/v1/models/micro:predict`)).status, 405);
    const big = await post(`${base}/v1/models/micro:predict`, { instances: [{ b64: 'A'.repeat(9 * 1024 * 1024) }] });
    assert.equal(big.status, 413);
    assert.match(String(big.json.error), /exceeds the limit of 8388608 bytes/);
  });

  it('reports status, metadata, liveness and readiness', async () => {
    const status = (await (await fetch(`${base}/v1/models/micro`)).json()) as Record<string, unknown>;
    assert.equal(at(status.model_version_status as { state: string }[], 0).state, 'AVAILABLE');
    const metadata0 = status.metadata as {
      architecture: { resolution: number; macs: number; layers: number };
      score: number;
      lineage: { searchId: string; dataset: { format: string } };
    };
    assert.equal(metadata0.architecture.resolution, 28);
    assert.equal(metadata0.architecture.macs, architectureCost(getPreset('micro-28')).macs);
    assert.ok(metadata0.architecture.layers > 10);
    assert.equal(metadata0.score, 0.5);
    assert.equal(metadata0.lineage.searchId, 'effscale-serve-test');
    assert.deepEqual(Object.keys(metadata0.lineage.dataset), ['format']);
    assert.ok(!JSON.stringify(status).includes(dir), 'no filesystem path of the server in the metadata');
    assert.equal((await fetch(`${base}/v1/models/micro/versions/1`)).status, 200);
    const metadata = (await (await fetch(`${base}/v1/models/micro/metadata`)).json()) as {
      metadata: { labels: string[] };
    };
    assert.deepEqual(metadata.metadata.labels, FASHION_MNIST_LABELS);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
  });

  it('batches concurrent requests and exposes Prometheus metrics on their own port only', async () => {
    assert.equal((await fetch(`${base}/metrics`)).status, 404);
    const before = await (await fetch(metricsUrl)).text();
    const countBefore = Number(/effscale_serve_batch_size_count\{[^}]*\} (\d+)/.exec(before)?.[1] ?? 0);
    const instance = nestedArray(at(images, 3));
    const answers = await Promise.all(
      Array.from({ length: 16 }, () => post(`${base}/v1/models/micro:predict`, { instances: [instance] })),
    );
    assert.ok(answers.every((a) => a.status === 200));
    const metrics = await (await fetch(metricsUrl)).text();
    const batches = Number(/effscale_serve_batch_size_count\{[^}]*\} (\d+)/.exec(metrics)?.[1]) - countBefore;
    assert.ok(batches < 16, `16 concurrent requests ran in ${batches} model invocations`);
    assert.match(metrics, /effscale_serve_requests_total\{route="predict",code="200"\} \d+/);
    assert.match(metrics, /effscale_serve_requests_total\{route="predict",code="400"\} \d+/);
    assert.match(metrics, /effscale_serve_request_duration_seconds_bucket\{route="predict",le="\+Inf"\} \d+/);
    assert.match(metrics, /effscale_serve_batch_size_bucket\{model="micro",le="8"\} \d+/);
  });
});

describe('prediction server lifecycle', () => {
  const images: RawImage[] = [];
  before(async () => images.push(...(await fashionImages(1))));

  it('answers 503 with Retry-After when the pixels in flight would pass the process budget', async () => {
    const own = await registeredMicro28(tf);
    const small = await start(own.served, { maxProcessPixels: 100 });
    try {
      const res = await fetch(`${small.base}/v1/models/micro:predict`, {
        method: 'POST',
        body: JSON.stringify({ instances: [nestedArray(at(images, 0))] }),
      });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.match(((await res.json()) as { error: string }).error, /pixel values in flight: try again/);
    } finally {
      await small.server.close();
      await rm(own.root, { recursive: true, force: true });
    }
  });

  it('is live but not ready until the model is loaded', async () => {
    const { server, base } = await start(undefined);
    try {
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      assert.equal((await fetch(`${base}/readyz`)).status, 503);
      assert.equal((await post(`${base}/v1/models/micro:predict`, { instances: [[[0]]] })).status, 503);
    } finally {
      await server.close();
    }
  });

  it('shuts down gracefully: in-flight requests finish, new connections are refused', async () => {
    const { served, root: dir } = await registeredMicro28(tf);
    const { server, base } = await start(served, { maxBatch: 64, maxWaitMs: 400 });
    const inFlight = post(`${base}/v1/models/micro:predict`, {
      instances: [
        [
          [0, 0],
          [0, 0],
        ],
      ],
    });
    await new Promise((r) => setTimeout(r, 100));
    const closed = server.close();
    assert.equal(server.ready, false);
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    await closed;
    await assert.rejects(fetch(`${base}/healthz`));
    await rm(dir, { recursive: true, force: true });
  });
});
