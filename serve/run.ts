import cluster from 'node:cluster';
import { UsageError } from '../cli/run.js';
import { Registry } from '../registry/registry.js';
import { loadNativeTf } from '../trainer/tf.js';
import { cpuBudget } from './cpus.js';
import { loadRegisteredModel } from './load.js';
import type { ServeOptions } from './options.js';
import { PredictionServer } from './server.js';
import type { MetricsState } from './metrics.js';

/** Which model `effscale serve` serves, from where. */
export interface ModelChoice {
  ref: string;
  registry: string;
  showPaths: boolean;
}

/** What a worker process tells its primary (serve/cluster.ts). */
export type WorkerMessage =
  { type: 'ready'; port: number; grpcPort?: number } | { type: 'metrics'; id: number; state: MetricsState };

/**
 * TensorFlow's thread pools for one of `processes` server processes, unless the operator set them: the intra-op
 * pool gets the process's share of the CPUs (serve/cpus.ts). A session run blocks its process's thread, so the
 * process needs no CPU of its own while the model runs.
 */
export function tfThreadEnv(processes: number): { TF_NUM_INTRAOP_THREADS: string } {
  const share = Math.floor(cpuBudget() / processes);
  return { TF_NUM_INTRAOP_THREADS: process.env.TF_NUM_INTRAOP_THREADS ?? String(Math.max(1, share)) };
}

/**
 * One server process: listens at once (liveness answers while the model loads), loads the model into its graph
 * session, serves until SIGTERM/SIGINT, then drains. As a cluster worker it reports to the primary instead of
 * printing, and leaves `/metrics` to the primary, which sums every worker's.
 */
export async function runServer(options: ServeOptions, model: ModelChoice): Promise<void> {
  const worker = cluster.isWorker;
  // Read by TensorFlow when it creates its thread pools, so set before it loads (a worker has it from its primary).
  Object.assign(process.env, tfThreadEnv(1));
  const tf = loadNativeTf();
  const [name = model.ref] = model.ref.split('@');
  const server = new PredictionServer(tf, name, worker ? { ...options, metricsPort: undefined } : options);
  const port = await server.listen();
  const grpcPort = await server.listenGrpc();
  const metricsPort = await server.listenMetrics();
  const log = (line: string) => !worker && console.error(`effscale: ${line}`);
  const extra = [
    grpcPort === undefined ? '' : `, gRPC on ${options.host}:${grpcPort}`,
    metricsPort === undefined ? '' : `, metrics on http://${options.host}:${metricsPort}/metrics`,
  ].join('');
  log(`listening on http://${options.host}:${port}${extra} (loading ${model.ref})`);
  const stop = new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log(`${signal}: finishing in-flight requests, then stopping`);
      void server.close().then(resolve);
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  if (worker)
    process.on('message', (message: { type?: string; id?: number }) => {
      if (message.type === 'metrics?' && message.id !== undefined)
        process.send?.({ type: 'metrics', id: message.id, state: server.metrics.state } satisfies WorkerMessage);
    });
  try {
    const registry = new Registry(model.registry);
    server.setModel(await loadRegisteredModel(tf, registry, model.ref, { showPaths: model.showPaths }));
  } catch (error) {
    await server.close();
    throw new UsageError(`cannot serve ${model.ref}: ${(error as Error).message}`);
  }
  if (worker)
    process.send?.({ type: 'ready', port, ...(grpcPort !== undefined && { grpcPort }) } satisfies WorkerMessage);
  log(`ready: POST http://${options.host}:${port}/v1/models/${name}:predict`);
  await stop;
  if (worker) process.disconnect();
}
