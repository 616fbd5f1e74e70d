import type { Training } from '../spec/task.js';
import type { Tf } from './tf.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;
type Optimizer = import('@tensorflow/tfjs-node').Optimizer;
type Tensor = import('@tensorflow/tfjs-node').Tensor;
type Scalar = import('@tensorflow/tfjs-node').Scalar;
type Variable = import('@tensorflow/tfjs-node').Variable;

export function createOptimizer(tf: Tf, training: Training): Optimizer {
  const lr = training.learningRate;
  if (training.optimizer === 'sgd') return tf.train.momentum(lr, training.momentum);
  if (training.optimizer === 'rmsprop') return tf.train.rmsprop(lr, 0.9, training.momentum, 1e-3);
  return tf.train.adam(lr);
}

export function setLearningRate(optimizer: Optimizer, lr: number): void {
  // SGD-family optimizers cache the rate in a tensor and expose a setter; Adam and RMSProp read the field per step.
  const target = optimizer as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (target.setLearningRate) target.setLearningRate(lr);
  else target.learningRate = lr;
}

/** Cross-entropy of softmax outputs against (optionally smoothed) one-hot labels, as Keras computes it. */
export function crossEntropy(tf: Tf, probs: Tensor, oneHot: Tensor, smoothing: number): Scalar {
  return tf.tidy(() => {
    const classes = oneHot.shape[1] ?? 1;
    const target = smoothing > 0 ? tf.add(tf.mul(oneHot, 1 - smoothing), smoothing / classes) : oneHot;
    const logProbs = tf.log(tf.clipByValue(probs, 1e-7, 1 - 1e-7));
    return tf.neg(tf.mean(tf.sum(tf.mul(target, logProbs), -1))) as Scalar;
  });
}

export function correctCount(tf: Tf, probs: Tensor, labels: Int32Array): Tensor {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(probs, -1), tf.tensor1d(labels, 'int32')), 'int32')));
}

/**
 * One optimizer step on a batch (forward in training mode, so batch norm updates its statistics and drop-connect
 * and dropout are active); returns the batch loss and the number of correct predictions. The batch tensors are
 * disposed.
 */
export async function trainStep(
  tf: Tf,
  model: LayersModel,
  optimizer: Optimizer,
  trainable: Variable[],
  batch: { xs: Tensor; ys: Tensor; labels: Int32Array },
  training: Pick<Training, 'labelSmoothing'>,
): Promise<{ loss: number; correct: number }> {
  const hits: Tensor[] = [];
  const loss = optimizer.minimize(
    () => {
      const probs = model.apply(batch.xs, { training: true }) as Tensor;
      hits.push(tf.keep(correctCount(tf, probs, batch.labels)));
      return crossEntropy(tf, probs, batch.ys, training.labelSmoothing);
    },
    true,
    trainable,
  );
  if (!loss) throw new Error('the optimizer returned no loss');
  const [lossValue = NaN] = await loss.data();
  const [hitValue = 0] = hits.length ? await hits[0].data() : [];
  tf.dispose([loss, ...hits, batch.xs, batch.ys]);
  return { loss: lossValue, correct: hitValue };
}
