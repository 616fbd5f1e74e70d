import type { Batch } from './data/batches.js';
import type { EngineSetup, StepResult, TrainingEngine } from './engine.js';
import { createOptimizer, type FlatOptimizer } from './optimizer.js';
import { correctCount, crossEntropy, trainStep } from './step.js';
import type { Tf } from './tf.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;
type Tensor = import('@tensorflow/tfjs-node').Tensor;
type Variable = import('@tensorflow/tfjs-node').Variable;

/**
 * Seeds every dropout and drop-connect mask of the next step from (training seed, layer, step), as the graph
 * engine's stateless masks are: the same spec and seed train the same, and a run resumed from a checkpoint (whose
 * optimizer step is restored) draws the masks an uninterrupted one would.
 */
function seedMasks(model: LayersModel, seed: number, step: number): void {
  model.layers.forEach((layer, index) => {
    if (layer.getClassName() === 'Dropout' || layer.getClassName() === 'DropConnect')
      (layer as unknown as { seed?: number }).seed = (((seed * 7919 + index) | 0) * 1_000_003 + step) >>> 0;
  });
}

/** Raw uint8 batches are native tensors tfjs ops cannot read; the eager engine asks its inputs for float ones. */
function normalizedOnly(batch: Batch): asserts batch is Extract<Batch, { form: 'normalized' }> {
  if (batch.form !== 'normalized') throw new Error('the eager engine takes normalized batches');
}

/** tfjs-layers, op by op, with the fused native kernels of native-ops.ts and the flat optimizer. */
export class EagerEngine implements TrainingEngine {
  readonly name = 'eager' as const;
  readonly batchForm = 'normalized' as const;
  readonly optimizer: FlatOptimizer;
  private readonly tf: Tf;
  private readonly model: LayersModel;
  private readonly trainable: Variable[];

  constructor(private readonly setup: EngineSetup) {
    this.tf = setup.tf;
    this.model = setup.model;
    this.trainable = this.model.trainableWeights.map((w) => w.read() as Variable);
    this.optimizer = createOptimizer(this.tf, setup.training, this.trainable);
  }

  trainStep(batch: Batch, learningRate: number): Promise<StepResult> {
    normalizedOnly(batch);
    this.optimizer.learningRate = learningRate;
    seedMasks(this.model, this.setup.training.seed, this.optimizer.step);
    return trainStep(this.tf, this.model, this.optimizer, this.trainable, batch, this.setup.training);
  }

  async evaluate(batch: Batch): Promise<StepResult> {
    const { tf } = this;
    normalizedOnly(batch);
    const probs = this.model.predict(batch.xs) as Tensor;
    const both = tf.tidy(() =>
      tf.stack([crossEntropy(tf, probs, batch.ys, 0), tf.cast(correctCount(tf, probs, batch.labels), 'float32')]),
    );
    const [loss = NaN, correct = 0] = await both.data();
    tf.dispose([probs, both, batch.xs, batch.ys]);
    return { loss, correct };
  }

  pullWeights(): void {}

  pushWeights(): void {}

  dispose(): void {
    this.optimizer.dispose();
  }
}
