import { z } from 'zod';
import { defaultServerProcesses } from './cpus.js';

/** Flags of `effscale serve` (and options of `PredictionServer`): one schema, validated with `parseSpec`. */
export const ServeOptions = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8501).describe('TF Serving REST port; 0 picks a free one'),
    grpcPort: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .optional()
      .describe('TF Serving gRPC PredictionService on this port (0 picks one); absent: no gRPC'),
    maxBodyBytes: z
      .number()
      .int()
      .min(1024)
      .default(8 * 1024 * 1024)
      .describe('larger request bodies get 413'),
    maxInstances: z.number().int().min(1).default(256).describe('instances per request'),
    maxSide: z.number().int().min(1).default(2048).describe('largest image side accepted, in pixels'),
    maxRequestPixels: z
      .number()
      .int()
      .min(1)
      .default(64 * 1024 * 1024)
      .describe('pixel values (height × width × channels) one request may decode; more: 400'),
    maxProcessPixels: z
      .number()
      .int()
      .min(1)
      .default(256 * 1024 * 1024)
      .describe('pixel values all requests in flight may hold; more: 503 with Retry-After'),
    maxBatch: z.number().int().min(1).max(4096).default(32).describe('instances per model invocation'),
    allowedBatchSizes: z
      .array(z.number().int().min(1))
      .min(1)
      .optional()
      .describe('batch sizes the model runs, each batch padded up to the next; absent: every batch at its own size'),
    maxWaitMs: z
      .number()
      .min(0)
      .max(10000)
      .default(0)
      .describe('how long a batch may wait to fill up; 0: it runs as soon as the model is free'),
    maxQueue: z
      .number()
      .int()
      .min(1)
      .default(1024)
      .describe('instances waiting for the model; a request that would pass it gets 503 with Retry-After'),
    deadlineMs: z
      .number()
      .int()
      .min(1)
      .default(30000)
      .describe('a request not run by then is answered 504 (gRPC: the call deadline, when sooner)'),
    workers: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(() => defaultServerProcesses())
      .describe('server processes sharing the ports, each with its own session; default: one per CPU (GPU build: one)'),
    /** Required as `Authorization: Bearer <token>` on every route but /healthz and /readyz; absent: no auth. */
    token: z.string().min(16, 'a bearer token needs at least 16 characters').optional(),
    topK: z.number().int().min(1).default(5),
    metricsPort: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .optional()
      .describe('Prometheus /metrics on this port of the same host (0 picks one); absent: no metrics'),
    drainTimeoutMs: z
      .number()
      .int()
      .min(0)
      .default(30000)
      .describe('on shutdown, in-flight requests get this long before connections are cut'),
  })
  .strict()
  .refine((o) => o.maxQueue >= o.maxInstances, {
    path: ['maxQueue'],
    message: 'must be at least maxInstances, or a full-size request could never be queued',
  })
  .refine((o) => o.allowedBatchSizes === undefined || isAllowedList(o.allowedBatchSizes, o.maxBatch), {
    path: ['allowedBatchSizes'],
    message: 'must increase strictly and end with maxBatch, as TF Serving requires',
  });

function isAllowedList(sizes: number[], maxBatch: number): boolean {
  return sizes.at(-1) === maxBatch && sizes.every((size, i) => i === 0 || size > (sizes[i - 1] as number));
}

export type ServeOptions = z.infer<typeof ServeOptions>;
export type ServeOptionsInput = z.input<typeof ServeOptions>;
