import { defineBatchNorm } from './batch-norm.js';
import { nativeOps } from './native-ops.js';
import type { Tf } from './tf.js';

type Tensor = import('@tensorflow/tfjs-node').Tensor;
type LayerArgs = import('@tensorflow/tfjs-node').serialization.ConfigDict & { name?: string; rate: number };

const registered = new WeakMap<Tf, ReturnType<typeof defineLayers>>();

function defineLayers(tf: Tf) {
  return {
    DropConnect: defineDropConnect(tf),
    BatchNorm: defineBatchNorm(tf),
    GlobalAveragePool: defineGlobalAveragePool(tf),
    Swish: defineSwish(tf),
  };
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
    /** The next training step's mask seed (see `seedMasks`); unset, the mask is drawn unseeded. */
    seed?: number;

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
        const scale = tf.div(tf.floor(tf.add(tf.randomUniform(shape, 0, 1, 'float32', this.seed), keep)), keep);
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

function defineGlobalAveragePool(tf: Tf) {
  type Args = Parameters<Tf['layers']['globalAveragePooling2d']>[0];
  type Pool = ReturnType<Tf['layers']['globalAveragePooling2d']>;
  const Base = tf.layers.globalAveragePooling2d({}).constructor as new (args: Args) => Pool;
  /**
   * tfjs-layers' GlobalAveragePooling2D with the native path's cheaper gradient in training (see native-ops.ts);
   * it serializes as the plain layer.
   */
  class NativeGlobalAveragePool extends Base {
    static readonly className = 'GlobalAveragePooling2D';

    override call(inputs: Tensor | Tensor[], kwargs: { training?: boolean }): Tensor | Tensor[] {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const ops = nativeOps(tf);
      const channelsLast = (this as unknown as { dataFormat: string }).dataFormat === 'channelsLast';
      if (!kwargs.training || !ops || !channelsLast || x.rank !== 4) return super.call(inputs, kwargs);
      return ops.globalAveragePool(x);
    }
  }
  return NativeGlobalAveragePool;
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
