import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import { UsageError } from '../cli/run.js';
import { BearerAuth } from './auth.js';
import { ServeMetrics, type MetricsState } from './metrics.js';
import type { ServeOptions } from './options.js';
import { tfThreadEnv, type ModelChoice, type WorkerMessage } from './run.js';
import { listenOn } from './server.js';

/**
 * `--workers N`: N server processes (node:cluster) share the REST and gRPC ports, each with its own session of
 * the model. A session run blocks its process's thread, so with several processes one decodes and answers HTTP
 * while another runs the model. TensorFlow's intra-op threads are split between them (serve/run.ts, tfThreadEnv),
 * unless the operator set TF_NUM_INTRAOP_THREADS. The primary runs no
 * model: it starts the workers, replaces one that dies, serves `/metrics` as the sum of theirs, and on SIGTERM
 * has every worker drain before it exits.
 */
export async function runPrimary(options: ServeOptions, model: ModelChoice): Promise<void> {
  const env = tfThreadEnv(options.workers);
  let stopping = false;
  let ready = 0;
  const [name = model.ref] = model.ref.split('@');
  const metricsReplies = new Map<number, { states: MetricsState[]; expected: number; done: () => void }>();

  const started = new Promise<WorkerMessage & { type: 'ready' }>((resolve, reject) => {
    const fork = (): Worker => {
      const worker = cluster.fork(env);
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') {
          ready += 1;
          if (ready === options.workers) resolve(message);
        } else if (message.type === 'metrics') {
          const pending = metricsReplies.get(message.id);
          pending?.states.push(message.state);
          if (pending && pending.states.length === pending.expected) pending.done();
        }
      });
      worker.on('exit', (code, signal) => {
        if (stopping) return;
        if (ready < options.workers) {
          stopping = true;
          for (const other of Object.values(cluster.workers ?? {})) other?.kill('SIGTERM');
          reject(new UsageError(`a server process exited while starting (code ${code ?? signal}); see above`));
          return;
        }
        console.error(`effscale: server process ${worker.process.pid} exited (${code ?? signal}); starting another`);
        fork();
      });
      return worker;
    };
    for (let k = 0; k < options.workers; k++) fork();
  });
  const exited = new Promise<void>((resolve) =>
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) resolve();
    }),
  );
  const shutdown = (signal: string) => {
    console.error(`effscale: ${signal}: every server process finishes its in-flight requests, then stops`);
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));

  let nextId = 0;
  const gather = async (): Promise<MetricsState[]> => {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
    const id = nextId++;
    const states: MetricsState[] = [];
    await new Promise<void>((done) => {
      metricsReplies.set(id, { states, expected: workers.length, done });
      for (const worker of workers) worker.send({ type: 'metrics?', id });
      // A worker that dies meanwhile never answers: show what the others said.
      setTimeout(done, 2000).unref();
    });
    metricsReplies.delete(id);
    return states;
  };
  const metrics = new ServeMetrics(name, options.maxBatch);
  const auth = options.token === undefined ? undefined : new BearerAuth(options.token);
  const metricsServer = createServer((req, res) => {
    if (auth && !auth.allows(req.headers.authorization)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="effscale"' }).end();
      return;
    }
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try GET /metrics\n');
      return;
    }
    void gather().then((states) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(states.length ? metrics.render(ServeMetrics.merge(states)) : metrics.render());
    });
  });

  const first = await started;
  const metricsPort =
    options.metricsPort === undefined ? undefined : await listenOn(metricsServer, options.metricsPort, options.host);
  const extra = [
    first.grpcPort === undefined ? '' : `, gRPC on ${options.host}:${first.grpcPort}`,
    metricsPort === undefined ? '' : `, metrics on http://${options.host}:${metricsPort}/metrics`,
  ].join('');
  console.error(
    `effscale: ${options.workers} server processes (${env.TF_NUM_INTRAOP_THREADS} TensorFlow thread(s) each) ` +
      `on http://${options.host}:${first.port}${extra}`,
  );
  console.error(`effscale: ready: POST http://${options.host}:${first.port}/v1/models/${name}:predict`);
  await exited;
  metricsServer.close();
}
