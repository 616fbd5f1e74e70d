import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadPredictionService } from '../../../serve/grpc.js';
import { cpuBudget } from '../../../serve/cpus.js';
import { loadNativeTf } from '../../../trainer/tf.js';
import { fashionImages, nestedArray, registeredMicro28 } from './fixture.js';

const BIN = join(process.cwd(), 'bin', 'effscale.js');
const TOKEN = 'cli-test-token-0123456789abcdef';

/** One gRPC Predict of a 28×28 image on a channel of its own (so the cluster may hand it to either process). */
async function grpcPredict(address: string, pixels: ArrayLike<number>): Promise<grpc.ServiceError | null> {
  const Service = grpc.makeGenericClientConstructor(loadPredictionService(), 'PredictionService');
  const client = new Service(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Predict(request: unknown, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null) => void): void;
  };
  const values = Float32Array.from(pixels);
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${TOKEN}`);
  try {
    return await new Promise((resolve) =>
      client.Predict(
        {
          model_spec: { name: 'micro' },
          inputs: {
            images: {
              dtype: 1,
              tensor_shape: { dim: [1, 28, 28, 1].map((size) => ({ size })) },
              tensor_content: Buffer.from(values.buffer),
            },
          },
        },
        metadata,
        resolve,
      ),
    );
  } finally {
    client.close();
  }
}

/** `effscale serve` as deployed: its own processes, flags, token file, signals. */
describe('effscale serve --workers 2 --grpc-port --token-file (the CLI, real processes)', () => {
  let root: string;

  before(async () => {
    const tf = loadNativeTf();
    const registered = await registeredMicro28(tf);
    registered.served.engine.dispose();
    root = registered.root;
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('serves REST and gRPC from two processes on shared ports, sums their metrics, and drains on SIGTERM', async () => {
    const tokenFile = join(await mkdtemp(join(tmpdir(), 'effscale-token-')), 'token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    const args = [
      'serve',
      '--model',
      'micro',
      '--state-dir',
      root,
      '--port',
      '0',
      '--grpc-port',
      '0',
      '--metrics-port',
      '0',
    ];
    const child = spawn(process.execPath, [BIN, ...args, '--workers', '2', '--token-file', tokenFile], {
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const { url, metrics } = await new Promise<{ url: string; metrics: string }>((resolve, reject) => {
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          const found = /ready: POST (http:\/\/\S+:predict)/.exec(stderr)?.[1];
          const metricsUrl = /metrics on (http:\/\/\S+\/metrics)/.exec(stderr)?.[1];
          if (found && metricsUrl) resolve({ url: found, metrics: metricsUrl });
        });
        void exited.then(() => reject(new Error(`effscale serve exited: ${stderr}`)));
      });
      const threads = Math.max(1, Math.floor(cpuBudget() / 2));
      assert.match(stderr, new RegExp(`2 server processes \\(${threads} TensorFlow thread\\(s\\) each\\)`));
      const grpcAddress = /gRPC on (\S+?),/.exec(stderr)?.[1];
      assert.ok(grpcAddress, stderr);
      const [image] = await fashionImages(1);
      assert.ok(image);
      const body = JSON.stringify({ instances: [nestedArray(image)] });
      const headers = { authorization: `Bearer ${TOKEN}` };
      // Separate connections, so the cluster hands them to both processes.
      const answers = await Promise.all(
        Array.from({ length: 12 }, () =>
          fetch(url, { method: 'POST', body, headers: { ...headers, connection: 'close' } }),
        ),
      );
      assert.deepEqual(
        answers.map((a) => a.status),
        Array.from({ length: 12 }, () => 200),
      );
      assert.equal((await fetch(url, { method: 'POST', body })).status, 401);
      const grpcErrors = await Promise.all(Array.from({ length: 6 }, () => grpcPredict(grpcAddress, image.pixels)));
      assert.deepEqual(
        grpcErrors,
        Array.from({ length: 6 }, () => null),
      );
      const text = await (await fetch(metrics, { headers })).text();
      assert.match(text, /^effscale_serve_instances_total\{model="micro"\} 18$/m);
      assert.match(text, /^effscale_serve_requests_total\{route="predict",code="401"\} 1$/m);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      child.kill('SIGKILL');
      await rm(join(tokenFile, '..'), { recursive: true, force: true });
    }
  });

  it('refuses a missing token file and bad flags with a clear message', async () => {
    const run = (...extra: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'serve', '--model', 'micro', '--state-dir', root, ...extra]);
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
    const missing = await run('--token-file', '/nonexistent/token');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--token-file \/nonexistent\/token: ENOENT/);
    const queue = await run('--max-queue', '8');
    assert.equal(queue.code, 2);
    assert.match(queue.stderr, /maxQueue.*at least maxInstances/);
  });
});
