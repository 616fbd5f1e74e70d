import { z } from 'zod';
import { Architecture } from '../scaling/architecture.js';
import { Task, Training } from './task.js';
import { packageVersion } from './release.js';

/**
 * The contract between the pipeline and the trainer. A candidate spec file (JSON) is what one training run
 * gets — as a local child process or as a Kubernetes pod — and a `TrainResult` is what it gives back
 * (`result.json`, and the termination message on Kubernetes).
 */

/**
 * The version of this contract. Any change to CandidateSpec bumps it: a trainer reads candidates of its contract and
 * earlier ones, and refuses a newer one by name (exit TRAINER_EXIT.newerContract) instead of failing it as bad
 * input. Contract 1 (effscale 0.1.0) had no `contract` field.
 */
export const CANDIDATE_CONTRACT = 2;

/** A candidate written for a newer trainer than this one: the trainer image is older than its worker's release. */
export class NewerContractError extends Error {}

/** Refuses a candidate of a newer contract before it is parsed (its new fields would read as bad input). */
export function checkContract(value: unknown, where: string): void {
  const contract = (value as { contract?: unknown } | null)?.contract ?? 1;
  if (typeof contract === 'number' && contract > CANDIDATE_CONTRACT)
    throw new NewerContractError(
      `${where} is candidate contract ${contract}, and this trainer reads up to ${CANDIDATE_CONTRACT}: ` +
        `run the trainer image of the worker's release (effscale ${packageVersion} trains contract ${CANDIDATE_CONTRACT})`,
    );
}

export const CandidateSpec = z
  .object({
    contract: z
      .number()
      .int()
      .min(1)
      .max(CANDIDATE_CONTRACT)
      .optional()
      .describe('the contract version the worker wrote (CANDIDATE_CONTRACT); absent in contract 1'),
    id: z.string().min(1).describe('candidate id, unique within a search'),
    architecture: Architecture,
    task: Task,
    training: Training,
    stopAfter: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe(
        'stop after this many epochs of the training.epochs schedule (a rung of successive halving); not part of ' +
          'the spec hash, so training on to a later rung resumes from the checkpoint',
      ),
  })
  .strict();
export type CandidateSpec = z.infer<typeof CandidateSpec>;
export type CandidateSpecInput = z.input<typeof CandidateSpec>;

export const EpochMetrics = z.object({
  epoch: z.number().int().min(1),
  trainLoss: z.number(),
  trainAccuracy: z.number(),
  valLoss: z.number(),
  valAccuracy: z.number(),
  imagesPerSecond: z
    .number()
    .describe("training images / wall seconds of the epoch's training pass, input waits included (not validation)"),
  inputWaitFraction: z
    .number()
    .optional()
    .describe('share of that wall time the training step waited for input; absent in results before it was measured'),
  validationSeconds: z.number().optional(),
  skippedImages: z.number().int().optional().describe('training images that could not be decoded (skipCorrupt)'),
  elapsedSeconds: z.number(),
});
export type EpochMetrics = z.infer<typeof EpochMetrics>;

/**
 * How training steps run: `graph` compiles the network, its backward pass and the optimizer into one TensorFlow
 * graph (trainer/graph/); `eager` runs tfjs-layers op by op (see trainer/engine.ts).
 */
export const EngineName = z.enum(['graph', 'eager']);
export type EngineName = z.infer<typeof EngineName>;

export const TrainResult = z.object({
  candidateId: z.string(),
  score: z
    .number()
    .describe(
      'the validation metric itself (not negated) reduced by the score rule over the last k epochs; ' +
        'accuracy: higher is better; loss and error (1 − accuracy): lower is better, and the rule `max` picks the ' +
        'lowest — compare scores with `higherIsBetter`',
    ),
  metric: z.string(),
  higherIsBetter: z.boolean().optional().describe('true for accuracy, false for loss and error'),
  epochs: z.array(EpochMetrics),
  imagesPerSecond: z.number().describe('training images / wall seconds of every training pass this run made'),
  inputWaitFraction: z.number().optional().describe('share of those seconds spent waiting for input'),
  backend: z.string().describe('tfjs backend that trained: "tensorflow" for native libtensorflow'),
  tfVersion: z.string(),
  engine: EngineName.optional().describe('absent for no-op runs and results written before engines existed'),
  params: z.object({ trainable: z.number().int(), total: z.number().int() }),
  macs: z.number(),
  seconds: z.number(),
  peakRssBytes: z.number().int(),
  modelUri: z.string().describe('where the trained model (tfjs format) was written'),
  latencyMs: z
    .number()
    .optional()
    .describe('milliseconds per image at batch 1 on the device that trained (trainer/latency.ts); synthetic for noop'),
  resumedFromEpoch: z.number().int().min(0).default(0),
  paramBytes: z.number().int().optional().describe('from the cost model'),
  peakActivationBytes: z.number().int().optional().describe('from the cost model, per image'),
  tfjsVersion: z.string().optional(),
  tfjsPackage: z
    .string()
    .optional()
    .describe(
      'npm package whose kernels trained: @tensorflow/tfjs-node, @tensorflow/tfjs-node-gpu (EFFSCALE_TFJS=gpu) or ' +
        '@tensorflow/tfjs (pure JS); absent for no-op runs and older results',
    ),
  specHash: z.string().optional().describe('sha256 of the normalized candidate spec the result belongs to'),
  startedAt: z.string().optional().describe('ISO time the run (or its last resume) started'),
  finishedAt: z.string().optional(),
});
export type TrainResult = z.infer<typeof TrainResult>;

/** One line of `effscale train --progress jsonl`; the executors turn these into activity heartbeats. */
export const TrainProgress = z.discriminatedUnion('type', [
  z.object({ type: z.literal('start'), candidateId: z.string(), epochs: z.number(), resumedFromEpoch: z.number() }),
  z.object({
    type: z.literal('batch'),
    epoch: z.number(),
    batch: z.number(),
    batches: z.number(),
    loss: z.number(),
  }),
  z.object({ type: z.literal('epoch'), metrics: EpochMetrics }),
  /** A checkpoint written mid-epoch (execution.checkpointMinutes): what a lost attempt would not retrain. */
  z.object({ type: z.literal('checkpoint'), epoch: z.number(), batch: z.number() }),
  z.object({ type: z.literal('result'), result: TrainResult }),
]);
export type TrainProgress = z.infer<typeof TrainProgress>;
