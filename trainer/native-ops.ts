import type { Tf } from './tf.js';

type Tensor = import('@tensorflow/tfjs-node').Tensor;

interface OpAttr {
  name: string;
  type: number;
  value: number | boolean | string;
}

/** The part of tfjs-node's kernel backend that runs a raw TensorFlow op by name. */
interface NativeBackend {
  binding: {
    TF_ATTR_TYPE: number;
    TF_ATTR_FLOAT: number;
    TF_ATTR_BOOL: number;
    TF_ATTR_STRING: number;
    TF_FLOAT: number;
  };
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: Tensor[], numOutputs: number): Tensor[];
}

/**
 * The ops a training step needs that tfjs composes from many small kernels (each one an eager TensorFlow op plus
 * tfjs bookkeeping, which dominates the step time of small networks), run as libtensorflow's own fused kernels
 * with hand-written gradients. Only on the native backend: the pure-JS backend has no raw ops.
 */
export interface NativeOps {
  /**
   * Batch normalization of an NHWC tensor over its batch statistics (training mode), as one FusedBatchNormV3 and,
   * backwards, one FusedBatchNormGradV3. Also returns the batch mean and the biased batch variance (what Keras and
   * tfjs-layers feed the moving averages), kept: the caller disposes them.
   */
  batchNormTraining(
    x: Tensor,
    gamma: Tensor,
    beta: Tensor,
    epsilon: number,
  ): { y: Tensor; mean: Tensor; variance: Tensor };
  /** x·sigmoid(x) in two ops, and its gradient in four instead of the composed chain rule's eight. */
  swish(x: Tensor): Tensor;
  /**
   * The mean over height and width of an NHWC tensor, whose gradient is one tiling of dy/(H·W); tfjs' Mean gradient
   * builds a ones tensor of the input's size in JavaScript and makes two more passes over it.
   */
  globalAveragePool(x: Tensor): Tensor;
}

const cache = new WeakMap<Tf, NativeOps | null>();

/** The native ops of `tf`, or undefined on a backend without raw TensorFlow ops (`--backend cpu`). */
export function nativeOps(tf: Tf): NativeOps | undefined {
  let ops = cache.get(tf);
  if (ops === undefined) {
    ops = tf.getBackend() === 'tensorflow' ? createNativeOps(tf, tf.backend() as unknown as NativeBackend) : null;
    cache.set(tf, ops);
  }
  return ops ?? undefined;
}

function createNativeOps(tf: Tf, backend: NativeBackend): NativeOps {
  const { binding } = backend;
  const batchNormAttrs = (epsilon: number): OpAttr[] => [
    { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: 'U', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: 'epsilon', type: binding.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: binding.TF_ATTR_BOOL, value: true },
  ];

  const batchNormTraining: NativeOps['batchNormTraining'] = (x, gamma, beta, epsilon) => {
    const attrs = batchNormAttrs(epsilon);
    let stats: Tensor[] = [];
    const normalize = tf.customGrad((...args) => {
      const [input, scale, offset] = args as Tensor[];
      const save = args[3] as (tensors: Tensor[]) => void;
      // In training mode the op ignores the running statistics when exponential_avg_factor is 1 (its default).
      const empty = tf.tensor1d([]);
      const [y, , , savedMean, savedVariance, reserve] = backend.executeMultipleOutputs(
        'FusedBatchNormV3',
        attrs,
        [input, scale, offset, empty, empty],
        6,
      );
      // Outputs 1 and 2 carry the Bessel-corrected variance; the reserve spaces hold the plain batch moments.
      stats = [tf.keep(savedMean), tf.keep(savedVariance)];
      save([input, scale, savedMean, savedVariance, reserve]);
      return {
        value: y,
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [dx, dScale, dOffset] = backend.executeMultipleOutputs(
            'FusedBatchNormGradV3',
            attrs,
            [dy, ...saved],
            5,
          );
          return [dx, dScale, dOffset];
        },
      };
    });
    const y = normalize(x, gamma, beta);
    const [mean, variance] = stats;
    return { y, mean, variance };
  };

  const swish = tf.customGrad((...args) => {
    const x = args[0] as Tensor;
    const save = args[1] as (tensors: Tensor[]) => void;
    const s = tf.sigmoid(x);
    const y = tf.mul(x, s);
    save([x, s, y]);
    return {
      value: y,
      // d(x·s)/dx = s·(1 + x·(1 − s)) = s·(1 + x − y): four passes over the activation, reusing the output.
      gradFunc: (dy: Tensor, [input, sig, output]: Tensor[]) =>
        tf.mul(dy, tf.mul(sig, tf.add(tf.sub(input, output), 1))),
    };
  });

  const globalAveragePool = tf.customGrad((...args) => {
    const x = args[0] as Tensor;
    const [n, h, w, c] = x.shape;
    return {
      value: tf.mean(x, [1, 2]),
      gradFunc: (dy: Tensor) => tf.tile(tf.div(tf.reshape(dy, [n, 1, 1, c]), h * w), [1, h, w, 1]),
    };
  });

  return { batchNormTraining, swish: (x) => swish(x), globalAveragePool: (x) => globalAveragePool(x) };
}
