import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SERVING_SIGNATURE } from '../trainer/graph/serving.js';
import type { AddressInfo } from 'node:net';
import type { Tf } from '../trainer/tf.js';
import { BearerAuth } from './auth.js';
import { errorStatus, HttpError } from './errors.js';
import { GrpcPredictionService } from './grpc.js';
import { BadRequestError, measureRequest, parsePredictRequest } from './instances.js';
import { ServeMetrics } from './metrics.js';
import { prediction, servingSignature, type Prediction, type ServedModel, type SignatureTensor } from './model.js';
import type { ServeOptions } from './options.js';
import { Predictor } from './predictor.js';

/**
 * The prediction server: TensorFlow Serving's REST API (`/v1/models/NAME[/versions/V][:predict|/metadata]`) for
 * one registered model, its gRPC PredictionService on `grpcPort`, plus `/healthz`, `/readyz` and Prometheus
 * `/metrics` on a port of its own. Instances of concurrent requests share session runs through the predictor.
 */

const MODEL_PATH = /^\/v1\/models\/([^/:]+)(?:\/versions\/([^/:]+))?(:predict|\/metadata)?$/;

export class PredictionServer {
  private readonly server: Server;
  /** `/metrics` on a port of its own (`metricsPort`), so the model's port exposes no operational data. */
  private readonly metricsServer: Server | undefined;
  readonly metrics: ServeMetrics;
  private readonly predictor: Predictor;
  private readonly auth: BearerAuth | undefined;
  private readonly grpc: GrpcPredictionService | undefined;
  private closing: Promise<void> | undefined;
  private inFlight = 0;
  private readonly drained: (() => void)[] = [];

  constructor(
    private readonly tf: Tf,
    readonly modelName: string,
    private readonly options: ServeOptions,
  ) {
    this.metrics = new ServeMetrics(modelName, options.maxBatch);
    this.predictor = new Predictor(options, this.metrics);
    this.auth = options.token === undefined ? undefined : new BearerAuth(options.token);
    this.grpc =
      options.grpcPort === undefined
        ? undefined
        : new GrpcPredictionService(modelName, options, this.predictor, this.metrics, this.auth, this.resolve);
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
    this.metricsServer =
      options.metricsPort === undefined
        ? undefined
        : createServer((req, res) => {
            if (this.auth && !this.auth.allows(req.headers.authorization)) {
              res.writeHead(401, { 'www-authenticate': 'Bearer realm="effscale"' }).end();
              return;
            }
            const found = new URL(req.url ?? '/', 'http://localhost').pathname === '/metrics';
            res.writeHead(found ? 200 : 404, { 'content-type': 'text/plain; version=0.0.4' });
            res.end(found ? this.metrics.render() : 'try GET /metrics\n');
          });
  }

  /** Readiness turns on once the model is loaded (`/readyz` answers 503 until then). */
  setModel(served: ServedModel): void {
    this.predictor.setModel(served);
  }

  get ready(): boolean {
    return this.predictor.model !== undefined && this.closing === undefined;
  }

  /** Listens on the model's port; returns it. */
  async listen(): Promise<number> {
    return listenOn(this.server, this.options.port, this.options.host);
  }

  /** The gRPC port once listening, or undefined when gRPC is off. */
  async listenGrpc(): Promise<number | undefined> {
    return this.grpc?.listen();
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
      const grpcStopped = this.grpc?.close(this.options.drainTimeoutMs);
      const drained = this.inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => this.drained.push(r));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.drainTimeoutMs);
      });
      await Promise.race([Promise.all([drained, this.predictor.idle()]), timeout]);
      clearTimeout(timer);
      this.server.closeAllConnections();
      this.metricsServer?.close();
      this.metricsServer?.closeAllConnections();
      await Promise.all([stopped, grpcStopped]);
      this.predictor.model?.engine.dispose();
    })();
    return this.closing;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    this.inFlight += 1;
    // Work of a client that hangs up is dropped before it runs.
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    let route = 'other';
    let status = 500;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const answer = await this.route(req, url.pathname, (r) => (route = r), started, gone.signal);
      status = answer.status;
      this.send(res, answer.status, answer.body);
    } catch (error) {
      const failure = errorStatus(error);
      status = failure.status;
      this.send(res, status, { error: failure.message }, failure.retryAfter, status === 401);
      // An unread oversized body would otherwise be parsed as the next request on this connection.
      if (status === 413) res.on('finish', () => req.destroy());
    } finally {
      this.metrics.recordRequest(route, status, (performance.now() - started) / 1000);
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const wake of this.drained.splice(0)) wake();
    }
  }

  private send(res: ServerResponse, status: number, body: unknown, retryAfter?: number, challenge = false): void {
    if (res.destroyed) return;
    const text = JSON.stringify(body);
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    };
    if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
    if (challenge) headers['www-authenticate'] = 'Bearer realm="effscale"';
    if (this.closing || status === 413) headers.connection = 'close';
    res.writeHead(status, headers).end(text);
  }

  private async route(
    req: IncomingMessage,
    path: string,
    setRoute: (route: string) => void,
    started: number,
    signal: AbortSignal,
  ): Promise<{ status: number; body: unknown }> {
    if (path === '/healthz') {
      setRoute('healthz');
      return { status: 200, body: { status: 'alive' } };
    }
    if (path === '/readyz') {
      setRoute('readyz');
      const reason = this.closing ? 'shutting down' : this.predictor.model ? undefined : 'model loading';
      return reason ? { status: 503, body: { status: reason } } : { status: 200, body: { status: 'ready' } };
    }
    const match = MODEL_PATH.exec(path);
    const [, name, version, action] = match ?? [];
    const predict = action === ':predict';
    if (match) setRoute(predict ? 'predict' : action === '/metadata' ? 'metadata' : 'status');
    // Checked before anything else is said about the path, so that without the token no route is revealed.
    if (this.auth && !this.auth.allows(req.headers.authorization))
      throw new HttpError(401, `${path} needs the header 'Authorization: Bearer <token>' with the server's token`);
    if (!match) throw new HttpError(404, `no route ${path}; try POST /v1/models/${this.modelName}:predict`);
    const method = predict ? 'POST' : 'GET';
    if (req.method !== method) throw new HttpError(405, `${path} answers ${method}, not ${req.method}`);
    const served = this.resolve(unescape(name ?? ''), version && unescape(version));
    if (!predict) return { status: 200, body: action ? this.metadataOf(served) : this.statusOf(served) };
    const body = await this.readJson(req);
    return { status: 200, body: { predictions: await this.predict(served, body, started, signal) } };
  }

  /** The served model a request names, or the 404 (another model or version) or 503 (still loading). */
  private resolve = (name: string, version: string | undefined): ServedModel => {
    if (name !== this.modelName)
      throw new HttpError(404, `model ${name} is not served here (serving ${this.modelName})`);
    const served = this.predictor.model;
    if (!served) throw new HttpError(503, `model ${name} is still loading`);
    // TF Serving clients address versions by number: `1` finds the registry's `v1`.
    if (version !== undefined && version !== served.version && `v${version}` !== served.version)
      throw new HttpError(404, `model ${name} has no version ${version} here (serving version ${served.version})`);
    return served;
  };

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
    const signature = servingSignature(served);
    const tensors = (side: Record<string, SignatureTensor>) =>
      Object.fromEntries(Object.entries(side).map(([key, t]) => [key, { dtype: t.dtype, tensor_shape: t.shape }]));
    return {
      model_spec: { name: served.name, version: served.version, signature_name: SERVING_SIGNATURE },
      metadata: {
        signature_def: { inputs: tensors(signature.inputs), outputs: tensors(signature.outputs) },
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

  private async predict(served: ServedModel, body: unknown, started: number, signal: AbortSignal) {
    const request = parsePredictRequest(body, this.options);
    const instances = measureRequest(this.tf, request.instances, this.options);
    const rows = await this.predictor.predict(instances, started + this.options.deadlineMs, signal);
    return rows.map((p): Prediction => prediction(p, served.labels, this.options.topK));
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

export async function listenOn(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
