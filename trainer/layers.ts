import { nativeOps } from './native-ops.js';
import type { Tf } from './tf.js';

type Tensor = import('@tensorflow/tfjs-node').Tensor;
type LayerArgs = import('@tensorflow/tfjs-node').serialization.ConfigDict & { name?: string; rate: number };
type BatchNormArgs = Parameters<Tf['layers']['batchNormalization']>[0];
type BatchNormalization = ReturnType<Tf['layers']['batchNormalization']>;
interface LayerVariable {
  read(): Tensor;
  write(value: Tensor): void;
}

const registered = new WeakMap<Tf, ReturnType<typeof defineLayers>>();

function defineLayers(tf: Tf) {
  return { DropConnect: defineDropConnect(tf), BatchNorm: defineBatchNorm(tf), Swish: defineSwish(tf) };
}

function defineDropConnect(tf: Tf) {
  /**
   * Stochastic depth on a residual branch (EfficientNet's drop-connect): in training, the whole branch of a sample
   * is dropped with probability `rate` and the kept ones scaled by 1/(1-rate); identity at inference. tfjs-layers
   * has no such layer, so it is registered for serialization and the saved model loads back with it.
   */
  class DropConnect extends tf.layers.Layer {
    static readonly className = 'DropConnect';
    readonly rate: number;

    constructor(args: LayerArgs) {
      super({ name: args.name });
      this.rate = args.rate;
    }

    override call(inputs: Tensor | Tensor[], kwargs: { training?: boolean }): Tensor {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (!kwargs.training || this.rate === 0) return x;
      return tf.tidy(() => {
        const keep = 1 - this.rate;
        const shape = [x.shape[0], ...x.shape.slice(1).map(() => 1)];
        // Scaling the per-sample mask rather than the activation: one pass over the branch, forward and backward.
        const scale = tf.div(tf.floor(tf.add(tf.randomUniform(shape), keep)), keep);
        return tf.mul(x, scale);
      });
    }

    override getConfig(): import('@tensorflow/tfjs-node').serialization.ConfigDict {
      return { ...super.getConfig(), rate: this.rate };
    }
  }
  tf.serialization.registerClass(DropConnect);
  return DropConnect;
}

/** A batch-norm moving statistic to move towards the batch's (a kept tensor, disposed once applied). */
interface MovingAverageUpdate {
  moving: LayerVariable;
  batch: Tensor;
  decay: number;
}

const deferredUpdates = new WeakMap<Tf, MovingAverageUpdate[]>();

/**
 * moving ← moving − (moving − batch)·decay, as tfjs-layers and Keras update them (from the biased batch variance),
 * for all statistics at once: one concatenated pass per decay instead of three ops per statistic.
 */
function applyMovingAverages(tf: Tf, updates: MovingAverageUpdate[]): void {
  const byDecay = new Map<number, MovingAverageUpdate[]>();
  for (const u of updates) byDecay.set(u.decay, [...(byDecay.get(u.decay) ?? []), u]);
  tf.tidy(() => {
    for (const [decay, group] of byDecay) {
      const current = tf.concat(group.map((u) => u.moving.read()));
      const next = tf.sub(current, tf.mul(tf.sub(current, tf.concat(group.map((u) => u.batch))), decay));
      const pieces = tf.split(
        next,
        group.map((u) => u.batch.size),
      );
      pieces.forEach((piece, i) => group[i].moving.write(piece));
    }
  });
  tf.dispose(updates.map((u) => u.batch));
}

/**
 * Runs `fn` (a training forward and backward pass) with the batch-norm moving averages collected instead of
 * applied per layer, then applies them together. Nothing reads the moving statistics during a training pass, so
 * the result is the same as updating them layer by layer.
 */
export function withBatchedMovingAverages<T>(tf: Tf, fn: () => T): T {
  const updates: MovingAverageUpdate[] = [];
  deferredUpdates.set(tf, updates);
  try {
    const result = fn();
    applyMovingAverages(tf, updates);
    return result;
  } catch (error) {
    tf.dispose(updates.map((u) => u.batch));
    throw error;
  } finally {
    deferredUpdates.delete(tf);
  }
}

/** What tfjs-layers keeps private in its BatchNormalization and the fused training path reads. */
interface BatchNormState {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: LayerVariable | null;
  beta: LayerVariable | null;
  movingMean: LayerVariable;
  movingVariance: LayerVariable;
}

function defineBatchNorm(tf: Tf) {
  const Base = tf.layers.batchNormalization({}).constructor as new (args?: BatchNormArgs) => BatchNormalization;
  /**
   * tfjs-layers' BatchNormalization whose training-mode call is one fused native kernel (and one for its gradient)
   * instead of moments + normalize + their composed gradients, about 60 small ops per layer. Inference and
   * serialization are the base class's: it saves as a plain `BatchNormalization` and loads without this class.
   */
  class NativeBatchNorm extends Base {
    static readonly className = 'BatchNormalization';

    override call(inputs: Tensor | Tensor[], kwargs: { training?: boolean }): Tensor | Tensor[] {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const state = this as unknown as BatchNormState;
      const ops = nativeOps(tf);
      const lastAxis = state.axis === -1 || state.axis === x.rank - 1;
      if (!kwargs.training || !ops || x.rank !== 4 || !lastAxis || !state.gamma || !state.beta) {
        return super.call(inputs, kwargs);
      }
      const { gamma, beta } = state;
      return tf.tidy(() => {
        const { y, mean, variance } = ops.batchNormTraining(x, gamma.read(), beta.read(), state.epsilon);
        const decay = 1 - state.momentum;
        const updates = [
          { moving: state.movingMean, batch: mean, decay },
          { moving: state.movingVariance, batch: variance, decay },
        ];
        const deferred = deferredUpdates.get(tf);
        if (deferred) deferred.push(...updates);
        else applyMovingAverages(tf, updates);
        return y;
      });
    }
  }
  return NativeBatchNorm;
}

function defineSwish(tf: Tf) {
  /**
   * The `swish` activation with a native two-op forward and a hand-written gradient (see native-ops.ts). Its class
   * name is tfjs-layers' own, so layers using it serialize and load as plain `swish` layers.
   */
  class NativeSwish extends tf.serialization.Serializable {
    static readonly className = 'swish';

    apply(x: Tensor): Tensor {
      const ops = nativeOps(tf);
      return ops ? ops.swish(x) : tf.tidy(() => tf.mul(tf.sigmoid(x), x));
    }

    override getConfig(): import('@tensorflow/tfjs-node').serialization.ConfigDict {
      return {};
    }
  }
  return NativeSwish;
}

/** The custom layers of effscale models, registered with `tf` (idempotent); call before loading a saved model. */
export function customLayers(tf: Tf): ReturnType<typeof defineLayers> {
  let layers = registered.get(tf);
  if (!layers) {
    layers = defineLayers(tf);
    registered.set(tf, layers);
  }
  return layers;
}

/** Gives a layer built with `activation: 'swish'` the native swish (a no-op for other activations). */
export function withNativeSwish<L extends object>(tf: Tf, layer: L): L {
  const target = layer as unknown as { activation?: { getClassName(): string } };
  if (target.activation?.getClassName() === 'swish') target.activation = new (customLayers(tf).Swish)();
  return layer;
}
