import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadPredictionService } from '../../../serve/grpc.js';
import { ServeOptions } from '../../../serve/options.js';
import { PredictionServer } from '../../../serve/server.js';
import { exportSavedModel } from '../../../trainer/graph/export.js';
import type { RawImage } from '../../../trainer/data/source.js';
import { loadNativeTf } from '../../../trainer/tf.js';
import { fashionImages, registeredMicro28 } from './fixture.js';
import { python } from './python.js';

const tf = loadNativeTf();
const here = dirname(fileURLToPath(import.meta.url));
const TOKEN = 'grpc-test-token-0123456789';

/** A SignatureDef as protobuf's JSON mapping writes it (int64 sizes as strings). */
interface Signature {
  inputs: Record<string, { name: string; dtype: string; tensor_shape: unknown }>;
  outputs: Record<string, { name: string; dtype: string; tensor_shape: unknown }>;
  method_name: string;
}

type Client = grpc.Client & {
  Predict(
    request: unknown,
    metadata: grpc.Metadata,
    callback: (error: grpc.ServiceError | null, response?: Record<string, unknown>) => void,
  ): void;
  GetModelMetadata(
    request: unknown,
    metadata: grpc.Metadata,
    callback: (error: grpc.ServiceError | null, response?: Record<string, unknown>) => void,
  ): void;
};

/** A Predict request for `images` (N×H×W×C values) as raw little-endian floats, the way tf.make_tensor_proto sends. */
function request(images: Float32Array, shape: number[], extra: Record<string, unknown> = {}) {
  return {
    model_spec: { name: 'micro', signature_name: 'serving_default' },
    inputs: {
      images: {
        dtype: 1,
        tensor_shape: { dim: shape.map((size) => ({ size })) },
        tensor_content: Buffer.from(images.buffer, images.byteOffset, images.byteLength),
      },
    },
    ...extra,
  };
}

/** The batch of `images` as floats N×H×W×1, each image upscaled `scale`× by pixel repetition (integer values). */
function batch(images: RawImage[], scale: number): { shape: number[]; values: Float32Array } {
  const side = 28 * scale;
  const values = new Float32Array(images.length * side * side);
  images.forEach((image, n) => {
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++)
        values[n * side * side + y * side + x] = image.pixels[Math.floor(y / scale) * 28 + Math.floor(x / scale)] ?? 0;
  });
  return { shape: [images.length, side, side, 1], values };
}

describe('gRPC PredictionService/Predict (TF Serving protocol)', () => {
  let root: string;
  let server: PredictionServer;
  let address: string;
  let rest: string;
  let metricsUrl: string;
  let client: Client;
  let images: RawImage[];

  before(async () => {
    const registered = await registeredMicro28(tf);
    root = registered.root;
    server = new PredictionServer(
      tf,
      'micro',
      ServeOptions.parse({ port: 0, grpcPort: 0, metricsPort: 0, token: TOKEN }),
    );
    server.setModel(registered.served);
    rest = `http://127.0.0.1:${await server.listen()}`;
    metricsUrl = `http://127.0.0.1:${await server.listenMetrics()}/metrics`;
    address = `127.0.0.1:${await server.listenGrpc()}`;
    const Service = grpc.makeGenericClientConstructor(loadPredictionService(), 'PredictionService');
    client = new Service(address, grpc.credentials.createInsecure()) as unknown as Client;
    images = await fashionImages(5);
  });
  after(async () => {
    client.close();
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  const call = (body: unknown, token = TOKEN) =>
    new Promise<{ error: grpc.ServiceError | null; response?: Record<string, unknown> }>((resolve) => {
      const metadata = new grpc.Metadata();
      if (token) metadata.set('authorization', `Bearer ${token}`);
      client.Predict(body, metadata, (error, response) => resolve({ error, response }));
    });

  const metadataCall = (body: unknown) =>
    new Promise<{ error: grpc.ServiceError | null; response?: Record<string, unknown> }>((resolve) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${TOKEN}`);
      client.GetModelMetadata(body, metadata, (error, response) => resolve({ error, response }));
    });

  it("answers TF Serving's Python client as the SavedModel export does in Python TensorFlow", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'effscale-grpc-'));
    try {
      const saved = join(dir, 'savedmodel', '1');
      await exportSavedModel(tf, join(root, 'registry', 'micro', 'v1', 'model'), saved);
      // Model-sized images, and images twice the size (resized by the graph, as the SavedModel resizes them).
      const batches = [batch(images.slice(0, 3), 1), batch(images.slice(3, 5), 2)];
      const file = join(dir, 'images.json');
      await writeFile(file, JSON.stringify({ batches: batches.map((b) => ({ ...b, values: Array.from(b.values) })) }));
      const py = python();
      // Asynchronously: the server answering it runs in this process.
      const { stdout: out } = await promisify(execFile)(
        py,
        [
          join(here, '..', '..', '..', '..', 'test', 'integration', 'serve', 'grpc_client.py'),
          address,
          'micro',
          TOKEN,
          saved,
          file,
        ],
        { encoding: 'utf8' },
      );
      const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
        tfVersion: string;
        batches: { grpc: number[]; grpcUint8: number[]; savedModel: number[] }[];
        modelMetadata: { modelSpec: unknown; signatures: string[]; served: Signature; exported: Signature };
        withoutToken: string;
        metadataWithoutToken: string;
      };
      assert.match(result.tfVersion, /^2\.21\./);
      assert.equal(result.withoutToken, 'UNAUTHENTICATED');
      assert.equal(result.metadataWithoutToken, 'UNAUTHENTICATED');
      // GetModelMetadata, unpacked by TF Serving's client, describes the signature the SavedModel export has.
      const { modelSpec, signatures, served, exported } = result.modelMetadata;
      assert.deepEqual(modelSpec, { name: 'micro', version: '1', signature_name: 'serving_default' });
      assert.deepEqual(signatures, ['serving_default']);
      assert.deepEqual(served, exported);
      assert.deepEqual(served.inputs.images, {
        name: 'images:0',
        dtype: 'DT_FLOAT',
        tensor_shape: { dim: ['-1', '-1', '-1', '1'].map((size) => ({ size })) },
      });
      assert.deepEqual(served.outputs.probabilities?.tensor_shape, { dim: [{ size: '-1' }, { size: '10' }] });
      assert.equal(served.method_name, 'tensorflow/serving/predict');
      result.batches.forEach((b, k) => {
        assert.equal(b.grpc.length, (batches[k]?.shape[0] ?? 0) * 10);
        assert.deepEqual(b.grpc.length, b.savedModel.length);
        b.savedModel.forEach((want, i) => {
          assert.ok(Math.abs((b.grpc[i] ?? NaN) - want) < 1e-4, `batch ${k} value ${i}: ${b.grpc[i]} vs ${want}`);
          assert.ok(Math.abs((b.grpcUint8[i] ?? NaN) - want) < 1e-4, `uint8 batch ${k} value ${i}`);
        });
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives the REST prediction for the same image', async () => {
    const { shape, values } = batch(images.slice(0, 1), 1);
    const { error, response } = await call(request(values, shape));
    assert.equal(error, null);
    const tensor = (response?.outputs as Record<string, { tensor_content: Buffer; tensor_shape: unknown }>)
      .probabilities;
    assert.ok(tensor);
    const grpcValues = new Float32Array(new Uint8Array(tensor.tensor_content).buffer);
    assert.equal(grpcValues.length, 10);
    const nested = Array.from({ length: 28 }, (_, y) => Array.from(values.subarray(y * 28, (y + 1) * 28)));
    const res = await fetch(`${rest}/v1/models/micro:predict`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ instances: [nested] }),
    });
    const json = (await res.json()) as { predictions: { probabilities: number[] }[] };
    const probabilities = json.predictions[0]?.probabilities ?? [];
    assert.equal(probabilities.length, 10);
    probabilities.forEach((p, i) => assert.ok(Math.abs(p - (grpcValues[i] ?? NaN)) < 1e-6, `class ${i}`));
  });

  it('answers bad requests with INVALID_ARGUMENT or NOT_FOUND naming what is wrong', async () => {
    const { shape, values } = batch(images.slice(0, 1), 1);
    const cases: [unknown, grpc.status, RegExp][] = [
      [
        { ...request(values, shape), model_spec: { name: 'other' } },
        grpc.status.NOT_FOUND,
        /model other is not served/,
      ],
      [
        { ...request(values, shape), model_spec: { name: 'micro', version: { value: 7 } } },
        grpc.status.NOT_FOUND,
        /no version 7/,
      ],
      [
        { ...request(values, shape), model_spec: { name: 'micro', signature_name: 'train' } },
        grpc.status.INVALID_ARGUMENT,
        /signature_name: 'train'/,
      ],
      [
        { model_spec: { name: 'micro' }, inputs: {} },
        grpc.status.INVALID_ARGUMENT,
        /inputs: got none; expected one tensor 'images'/,
      ],
      [request(values, [1, 28, 28]), grpc.status.INVALID_ARGUMENT, /inputs.images: shape \[1, 28, 28\]/],
      [request(values, [1, 28, 28, 2]), grpc.status.INVALID_ARGUMENT, /2 channels/],
      [request(values, [2, 28, 28, 1]), grpc.status.INVALID_ARGUMENT, /784 values for a shape of 1568/],
      [request(values, [1, 4096, 1, 1]), grpc.status.INVALID_ARGUMENT, /at most 2048 pixels per side/],
      [request(values, [300, 28, 28, 1]), grpc.status.INVALID_ARGUMENT, /300 images, at most 256/],
      [request(new Float32Array([300]), [1, 1, 1, 1]), grpc.status.INVALID_ARGUMENT, /value 300 at 0; expected 0–255/],
      [
        {
          model_spec: { name: 'micro' },
          inputs: { images: { dtype: 7, tensor_shape: { dim: [1, 1, 1, 1].map((size) => ({ size })) } } },
        },
        grpc.status.INVALID_ARGUMENT,
        /dtype 7; expected DT_FLOAT \(1\) or DT_UINT8 \(4\)/,
      ],
    ];
    for (const [body, code, message] of cases) {
      const { error } = await call(body);
      assert.equal(error?.code, code, `${message}: ${error?.details}`);
      assert.match(error?.details ?? '', message);
    }
    const { error } = await call(request(values, shape), 'wrong-token-0123456789');
    assert.equal(error?.code, grpc.status.UNAUTHENTICATED);
  });

  it('answers GetModelMetadata for signature_def only, and NOT_FOUND for another model', async () => {
    const cases: [unknown, grpc.status, RegExp][] = [
      [{ model_spec: { name: 'micro' } }, grpc.status.INVALID_ARGUMENT, /metadata_field: give at least one/],
      [
        { model_spec: { name: 'micro' }, metadata_field: ['signature_def', 'labels'] },
        grpc.status.INVALID_ARGUMENT,
        /'labels' is not supported/,
      ],
      [
        { model_spec: { name: 'other' }, metadata_field: ['signature_def'] },
        grpc.status.NOT_FOUND,
        /model other is not served/,
      ],
    ];
    for (const [body, code, message] of cases) {
      const { error } = await metadataCall(body);
      assert.equal(error?.code, code, `${message}: ${error?.details}`);
      assert.match(error?.details ?? '', message);
    }
    const { error, response } = await metadataCall({
      model_spec: { name: 'micro' },
      metadata_field: ['signature_def'],
    });
    assert.equal(error, null);
    const any = (response?.metadata as Record<string, { type_url: string; value: Buffer }>).signature_def;
    assert.equal(any?.type_url, 'type.googleapis.com/tensorflow.serving.SignatureDefMap');
    assert.ok((any?.value.length ?? 0) > 0);
    const scraped = await (await fetch(metricsUrl, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    assert.match(
      scraped,
      /effscale_serve_requests_total\{[^}]*route="grpc_get_model_metadata",code="OK"\} \d+$/m,
      'counted under its own route',
    );
  });
});
