import { join } from 'node:path';
import type { Command } from 'commander';
import { Registry } from '../../registry/registry.js';
import { parseSpec } from '../../scaling/validate.js';
import { loadRegisteredModel } from '../../serve/load.js';
import { ServeOptions } from '../../serve/options.js';
import { PredictionServer } from '../../serve/server.js';
import { loadNativeTf } from '../../trainer/tf.js';
import { UsageError } from '../run.js';
import { defaultStateDir } from '../../store/search-dir.js';

interface ServeFlags {
  model: string;
  registry?: string;
  stateDir: string;
  host: string;
  port: string;
  maxBatchSize: string;
  maxWaitMs: string;
  maxBodyBytes: string;
  topK: string;
  maxSide: string;
  maxRequestPixels: string;
  maxProcessPixels: string;
  showPaths?: boolean;
  metricsPort?: string;
}

const number = (value: string) => (value.trim() === '' ? Number.NaN : Number(value));

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve a registered model over the TensorFlow Serving REST API (POST /v1/models/NAME:predict)')
    .requiredOption('--model <name[@version]>', 'registered model (latest version unless @vN is given)')
    .option('--registry <dir>', 'registry folder (default <state-dir>/registry)')
    .option('--state-dir <dir>', 'state directory', defaultStateDir())
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', '8501')
    .option('--max-batch-size <n>', 'instances per model invocation (1 turns batching off)', '32')
    .option('--max-wait-ms <ms>', 'how long a batch waits for more instances', '2')
    .option('--max-body-bytes <n>', 'request body limit (larger requests get 413)', String(8 * 1024 * 1024))
    .option('--top-k <k>', 'labels per prediction', '5')
    .option('--max-side <px>', 'largest image side accepted, checked from the header before decoding', '2048')
    .option('--max-request-pixels <n>', 'pixel values (H×W×C) one request may decode (more: 400)', '67108864')
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port (0 picks one); default: no metrics')
    .option('--show-paths', "model metadata includes the registry's and the dataset's filesystem paths")
    .option('--max-process-pixels <n>', 'pixel values all requests in flight may hold (more: 503)', '268435456')
    .action(async (flags: ServeFlags) => {
      const options = parseSpec(
        ServeOptions,
        {
          host: flags.host,
          port: number(flags.port),
          maxBatchSize: number(flags.maxBatchSize),
          maxWaitMs: number(flags.maxWaitMs),
          maxBodyBytes: number(flags.maxBodyBytes),
          topK: number(flags.topK),
          maxSide: number(flags.maxSide),
          maxRequestPixels: number(flags.maxRequestPixels),
          maxProcessPixels: number(flags.maxProcessPixels),
          ...(flags.metricsPort !== undefined && { metricsPort: number(flags.metricsPort) }),
        },
        'serve flags',
      );
      const tf = loadNativeTf();
      const registry = new Registry(flags.registry ?? join(flags.stateDir, 'registry'));
      const [name] = flags.model.split('@');
      const server = new PredictionServer(tf, name ?? flags.model, options);
      const port = await server.listen();
      const metricsPort = await server.listenMetrics();
      const metrics = metricsPort === undefined ? '' : `, metrics on http://${options.host}:${metricsPort}/metrics`;
      console.error(`effscale: listening on http://${options.host}:${port}${metrics} (loading ${flags.model})`);
      const stop = new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          console.error(`effscale: ${signal}: finishing in-flight requests, then stopping`);
          void server.close().then(resolve);
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
      try {
        server.setModel(await loadRegisteredModel(tf, registry, flags.model, { showPaths: flags.showPaths }));
      } catch (error) {
        await server.close();
        throw new UsageError(`cannot serve ${flags.model}: ${(error as Error).message}`);
      }
      console.error(`effscale: ready: POST http://${options.host}:${port}/v1/models/${name}:predict`);
      await stop;
    });
}
