import type { Training } from '../schemas/task.js';
import { withBatchedMovingAverages } from './batch-norm.js';
import type { FlatOptimizer } from './optimizer.js';
import type { Tf } from './tf.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;
type Tensor = import('@tensorflow/tfjs-node').Tensor;
type Scalar = import('@tensorflow/tfjs-node').Scalar;
type Variable = import('@tensorflow/tfjs-node').Variable;

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
  optimizer: FlatOptimizer,
  trainable: Variable[],
  batch: { xs: Tensor; ys: Tensor; labels: Int32Array },
  training: Pick<Training, 'labelSmoothing'>,
): Promise<{ loss: number; correct: number }> {
  let hits: Tensor | undefined;
  const { value: loss, grads } = withBatchedMovingAverages(tf, () =>
    tf.variableGrads(() => {
      const probs = model.apply(batch.xs, { training: true }) as Tensor;
      hits = tf.keep(correctCount(tf, probs, batch.labels));
      return crossEntropy(tf, probs, batch.ys, training.labelSmoothing);
    }, trainable),
  );
  optimizer.applyGradients(trainable.map((v) => grads[v.name] ?? tf.zerosLike(v)));
  // One read for both numbers: each read is a synchronous copy out of TensorFlow.
  const both = tf.tidy(() => tf.stack([loss, tf.cast(hits ?? tf.scalar(0), 'float32')]));
  const [lossValue = NaN, hitValue = 0] = await both.data();
  tf.dispose([both, loss, hits, grads, batch.xs, batch.ys]);
  return { loss: lossValue, correct: hitValue };
}
