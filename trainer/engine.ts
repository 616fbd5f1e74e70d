import type { Architecture } from '../scaling/architecture.js';
import type { EngineName } from '../schemas/candidate.js';
import type { Training } from '../schemas/task.js';
import type { Batch } from './data/batches.js';
import type { BatchForm } from './data/pipeline.js';
import type { Tf } from './tf.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;
type NamedTensor = { name: string; tensor: import('@tensorflow/tfjs-node').Tensor };

/*
 * Both engines train the same tfjs-layers model's weights, so checkpoints and saved models do not depend on the
 * engine: `graph` runs a step as one session call on the compiled candidate, `eager` op by op.
 */

/**
 * The engine used unless `--engine` says otherwise: the compiled graph, faster on the benchmarks (bench/train.ts),
 * on native TensorFlow; the pure-JS backend (`--backend cpu`, debugging only) has no graphs, so eager there.
 */
export function defaultEngine(backend: string): EngineName {
  return backend === 'tensorflow' ? 'graph' : 'eager';
}

/** The optimizer slots a checkpoint holds: a step count, then one flat vector per slot over the trainable weights
 * in the tfjs model's order (the same layout for both engines). */
export interface OptimizerState {
  getWeights(): NamedTensor[];
  setWeights(weights: NamedTensor[]): void;
}

export interface StepResult {
  loss: number;
  correct: number;
}

export interface TrainingEngine {
  readonly name: EngineName;
  /** The batches an input pipeline should hand this engine. */
  readonly batchForm: BatchForm;
  readonly optimizer: OptimizerState;
  /** One optimizer step on a batch (disposes the batch tensors). */
  trainStep(batch: Batch, learningRate: number): Promise<StepResult>;
  /** Mean loss and correct predictions of a batch in inference mode (disposes the batch tensors). */
  evaluate(batch: Batch): Promise<StepResult>;
  /** The tfjs model's weights changed (a restored checkpoint): take them. */
  pullWeights(): void;
  /** Write the trained weights into the tfjs model (before it is saved or checkpointed). */
  pushWeights(): void;
  dispose(): void;
}

export interface EngineSetup {
  tf: Tf;
  model: LayersModel;
  architecture: Architecture;
  training: Training;
}
