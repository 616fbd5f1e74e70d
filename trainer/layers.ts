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
        const mask = tf.floor(tf.add(tf.randomUniform(shape), keep));
        return tf.mul(tf.div(x, keep), mask);
      });
    }

    override getConfig(): import('@tensorflow/tfjs-node').serialization.ConfigDict {
      return { ...super.getConfig(), rate: this.rate };
    }
  }
  tf.serialization.registerClass(DropConnect);
  return DropConnect;
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
        // The moving averages as tfjs-layers and Keras update them, from the biased batch variance.
        const decay = 1 - state.momentum;
        for (const [moving, batch] of [
          [state.movingMean, mean],
          [state.movingVariance, variance],
        ] as const) {
          const current = moving.read();
          moving.write(tf.sub(current, tf.mul(tf.sub(current, batch), decay)));
        }
        tf.dispose([mean, variance]);
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
