import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Tf } from '../trainer/tf.js';
import { MicroBatcher } from './batcher.js';
import { BadRequestError, measureRequest, parsePredictRequest } from './instances.js';
import { ServeMetrics } from './metrics.js';
import { predictBatch, type Prediction, type ServedModel } from './model.js';
import type { ServeOptions } from './options.js';

type Tensor3D = import('@tensorflow/tfjs-node').Tensor3D;

/**
 * The prediction server: TensorFlow Serving's REST API (`/v1/models/NAME[/versions/V][:predict|/metadata]`) for
 * one registered model, plus `/healthz`, `/readyz` and Prometheus `/metrics`. Instances of concurrent requests
 * share model invocations through the micro-batcher.
 */

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Seconds a client should wait before trying again (503). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

const MODEL_PATH = /^\/v1\/models\/([^/:]+)(?:\/versions\/([^/:]+))?(:predict|\/metadata)?$/;

export class PredictionServer {
  private readonly server: Server;
  /** `/metrics` on a port of its own (`metricsPort`), so the model's port exposes no operational data. */
  private readonly metricsServer: Server | undefined;
  private readonly metrics: ServeMetrics;
  private readonly batcher: MicroBatcher<Tensor3D, Prediction>;
  private served: ServedModel | undefined;
  private closing: Promise<void> | undefined;
  private inFlight = 0;
  /** Pixel values the requests in flight have decoded or are about to: bounded by maxProcessPixels. */
  private pixelsInFlight = 0;
  private readonly drained: (() => void)[] = [];

  constructor(
    private readonly tf: Tf,
    readonly modelName: string,
    private readonly options: ServeOptions,
  ) {
    this.metrics = new ServeMetrics(modelName, options.maxBatchSize);
    this.batcher = new MicroBatcher(options, (images) => {
      const served = this.served;
      if (!served) throw new HttpError(503, `model ${modelName} is not loaded yet`);
      this.metrics.recordBatch(images.length);
      try {
        return predictBatch(tf, served, images, options.topK);
      } finally {
        for (const image of images) image.dispose();
      }
    });
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
    this.metricsServer =
      options.metricsPort === undefined
        ? undefined
        : createServer((req, res) => {
            const found = new URL(req.url ?? '/', 'http://localhost').pathname === '/metrics';
            res.writeHead(found ? 200 : 404, { 'content-type': 'text/plain; version=0.0.4' });
            res.end(found ? this.metrics.render() : 'try GET /metrics\n');
          });
  }

  /** Readiness turns on once the model is loaded (`/readyz` answers 503 until then). */
  setModel(served: ServedModel): void {
    this.served = served;
  }

  get ready(): boolean {
    return this.served !== undefined && this.closing === undefined;
  }

  /** Listens on the model's port; returns it. */
  async listen(): Promise<number> {
    return listenOn(this.server, this.options.port, this.options.host);
  }

  /** The metrics port once listening, or undefined when metrics are off. */
  async listenMetrics(): Promise<number | undefined> {
    if (!this.metricsServer || this.options.metricsPort === undefined) return undefined;
    return listenOn(this.metricsServer, this.options.metricsPort, this.options.host);
  }

  /** Graceful shutdown: stop accepting, let in-flight requests finish (up to the drain timeout), then close. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeIdleConnections();
      const drained = this.inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => this.drained.push(r));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.drainTimeoutMs);
      });
      await Promise.race([Promise.all([drained, this.batcher.idle()]), timeout]);
      clearTimeout(timer);
      this.server.closeAllConnections();
      this.metricsServer?.close();
      this.metricsServer?.closeAllConnections();
      await stopped;
      this.served?.model.dispose();
    })();
    return this.closing;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    this.inFlight += 1;
    let route = 'other';
    let status = 500;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const answer = await this.route(req, url.pathname, (r) => (route = r));
      status = answer.status;
      this.send(res, answer.status, answer.body, answer.contentType);
    } catch (error) {
      status = error instanceof HttpError ? error.status : error instanceof BadRequestError ? 400 : 500;
      const message = error instanceof Error ? error.message : String(error);
      this.send(res, status, { error: message }, undefined, error instanceof HttpError ? error.retryAfter : undefined);
      // An unread oversized body would otherwise be parsed as the next request on this connection.
      if (status === 413) res.on('finish', () => req.destroy());
    } finally {
      this.metrics.recordRequest(route, status, (performance.now() - started) / 1000);
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const wake of this.drained.splice(0)) wake();
    }
  }

  private send(
    res: ServerResponse,
    status: number,
    body: unknown,
    contentType = 'application/json',
    retryAfter?: number,
  ): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string | number> = {
      'content-type': contentType,
      'content-length': Buffer.byteLength(text),
    };
    if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
    if (this.closing || status === 413) headers.connection = 'close';
    res.writeHead(status, headers).end(text);
  }

  private async route(
    req: IncomingMessage,
    path: string,
    setRoute: (route: string) => void,
  ): Promise<{ status: number; body: unknown; contentType?: string }> {
    if (path === '/healthz') {
      setRoute('healthz');
      return { status: 200, body: { status: 'alive' } };
    }
    if (path === '/readyz') {
      setRoute('readyz');
      const reason = this.closing ? 'shutting down' : this.served ? undefined : 'model loading';
      return reason ? { status: 503, body: { status: reason } } : { status: 200, body: { status: 'ready' } };
    }

    const match = MODEL_PATH.exec(path);
    if (!match) throw new HttpError(404, `no route ${path}; try POST /v1/models/${this.modelName}:predict`);
    const [, name, version, action] = match;
    const predict = action === ':predict';
    setRoute(predict ? 'predict' : action === '/metadata' ? 'metadata' : 'status');
    const method = predict ? 'POST' : 'GET';
    if (req.method !== method) throw new HttpError(405, `${path} answers ${method}, not ${req.method}`);
    const served = this.resolve(unescape(name ?? ''), version && unescape(version));
    if (!predict) return { status: 200, body: action ? this.metadataOf(served) : this.statusOf(served) };
    return { status: 200, body: { predictions: await this.predict(await this.readJson(req)) } };
  }

  private resolve(name: string, version: string | undefined): ServedModel {
    if (name !== this.modelName)
      throw new HttpError(404, `model ${name} is not served here (serving ${this.modelName})`);
    const served = this.served;
    if (!served) throw new HttpError(503, `model ${name} is still loading`);
    // TF Serving clients address versions by number: `1` finds the registry's `v1`.
    if (version !== undefined && version !== served.version && `v${version}` !== served.version)
      throw new HttpError(404, `model ${name} has no version ${version} here (serving version ${served.version})`);
    return served;
  }

  private statusOf(served: ServedModel): unknown {
    return {
      model_version_status: [
        {
          version: served.version,
          state: this.closing ? 'UNLOADING' : 'AVAILABLE',
          status: { error_code: 'OK', error_message: '' },
        },
      ],
      metadata: served.metadata,
    };
  }

  private metadataOf(served: ServedModel): unknown {
    const { resolution: side, inputChannels: channels } = served.input;
    return {
      model_spec: { name: served.name, version: served.version, signature_name: 'serving_default' },
      metadata: {
        signature_def: {
          inputs: { image: { dtype: 'DT_FLOAT', tensor_shape: [-1, side, side, channels] } },
          outputs: { probabilities: { dtype: 'DT_FLOAT', tensor_shape: [-1, served.labels.length] } },
        },
        labels: served.labels,
        ...served.metadata,
      },
    };
  }

  private async readJson(req: IncomingMessage): Promise<unknown> {
    const limit = this.options.maxBodyBytes;
    const declared = Number(req.headers['content-length']);
    if (declared > limit)
      throw new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new HttpError(413, `request body exceeds the limit of ${limit} bytes`);
      chunks.push(chunk);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (error) {
      throw new BadRequestError(`body: not valid JSON (${(error as Error).message}); expected {"instances": [...]}`);
    }
  }

  private async predict(body: unknown): Promise<Prediction[]> {
    const request = parsePredictRequest(body, this.options);
    const measured = measureRequest(request.instances, this.options);
    const pixels = measured.reduce((sum, m) => sum + m.pixels, 0);
    if (this.pixelsInFlight + pixels > this.options.maxProcessPixels)
      throw new HttpError(503, `the server holds ${this.pixelsInFlight} pixel values in flight: try again`, 1);
    this.pixelsInFlight += pixels;
    const images: Tensor3D[] = [];
    try {
      for (const m of measured) images.push(m.decode(this.tf));
    } catch (error) {
      for (const image of images) image.dispose();
      this.pixelsInFlight -= pixels;
      throw error;
    }
    try {
      return await Promise.all(images.map((image) => this.batcher.submit(image)));
    } finally {
      this.pixelsInFlight -= pixels;
    }
  }
}

/** A path segment's %-escapes decoded; a malformed one is the client's error, not the server's. */
function unescape(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `malformed %-escape in the path segment '${segment}'`);
  }
}

async function listenOn(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
