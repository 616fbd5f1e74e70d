import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../run.js';
import { parseSpec } from '../../scaling/validate.js';
import { defaultStateDir } from '../../store/search-dir.js';
import { tokenFromFile } from '../../serve/auth.js';
import { ServeOptions } from '../../serve/options.js';

interface ServeFlags {
  model: string;
  registry?: string;
  stateDir: string;
  host: string;
  port: string;
  grpcPort?: string;
  maxBatch: string;
  allowedBatchSizes?: string;
  maxWait: string;
  maxQueue: string;
  deadline: string;
  workers?: string;
  tokenFile?: string;
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
    .option('--port <port>', 'REST port (0 picks a free one)', '8501')
    .option('--grpc-port <port>', 'also serve the TF Serving gRPC PredictionService on this port (0 picks one)')
    .option('--max-batch <n>', 'instances per model invocation (1 turns batching off)', '32')
    .option(
      '--allowed-batch-sizes <list>',
      'comma-separated batch sizes, the last = --max-batch; each batch is padded up to one (for a GPU)',
    )
    .option('--max-wait <ms>', 'let a batch wait this long to fill up (default: run as soon as the model is free)', '0')
    .option('--max-queue <n>', 'instances waiting for the model; more: 503 with Retry-After', '1024')
    .option('--deadline <ms>', 'a request not run within this time gets 504', '30000')
    .option(
      '--workers <n>',
      'server processes sharing the ports, each with its own model session (default: one per CPU; GPU build: 1)',
    )
    .option('--token-file <file>', "require 'Authorization: Bearer <token>' with this file's token (not on health)")
    .option('--max-body-bytes <n>', 'request body limit (larger requests get 413)', String(8 * 1024 * 1024))
    .option('--top-k <k>', 'labels per prediction', '5')
    .option('--max-side <px>', 'largest image side accepted, checked from the header before decoding', '2048')
    .option('--max-request-pixels <n>', 'pixel values (H×W×C) one request may decode (more: 400)', '67108864')
    .option('--max-process-pixels <n>', 'pixel values all requests in flight may hold (more: 503)', '268435456')
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port (0 picks one); default: no metrics')
    .option('--show-paths', "model metadata includes the registry's and the dataset's filesystem paths")
    .action(async (flags: ServeFlags) => {
      const options = parseSpec(
        ServeOptions,
        {
          host: flags.host,
          port: number(flags.port),
          ...(flags.grpcPort !== undefined && { grpcPort: number(flags.grpcPort) }),
          maxBatch: number(flags.maxBatch),
          ...(flags.allowedBatchSizes !== undefined && {
            allowedBatchSizes: flags.allowedBatchSizes.split(',').map(number),
          }),
          maxWaitMs: number(flags.maxWait),
          maxQueue: number(flags.maxQueue),
          deadlineMs: number(flags.deadline),
          ...(flags.workers !== undefined && { workers: number(flags.workers) }),
          ...(flags.tokenFile !== undefined && { token: await readToken(flags.tokenFile) }),
          maxBodyBytes: number(flags.maxBodyBytes),
          topK: number(flags.topK),
          maxSide: number(flags.maxSide),
          maxRequestPixels: number(flags.maxRequestPixels),
          maxProcessPixels: number(flags.maxProcessPixels),
          ...(flags.metricsPort !== undefined && { metricsPort: number(flags.metricsPort) }),
        },
        'serve flags',
      );
      const model = {
        ref: flags.model,
        registry: flags.registry ?? join(flags.stateDir, 'registry'),
        showPaths: flags.showPaths === true,
      };
      const cluster = (await import('node:cluster')).default;
      if (options.workers > 1 && cluster.isPrimary) {
        const { runPrimary } = await import('../../serve/cluster.js');
        await runPrimary(options, model);
      } else {
        const { runServer } = await import('../../serve/run.js');
        await runServer(options, model);
      }
    });
}

async function readToken(file: string): Promise<string> {
  try {
    return tokenFromFile(await readFile(file, 'utf8'), file);
  } catch (error) {
    throw new UsageError(`--token-file ${file}: ${(error as Error).message}`);
  }
}
