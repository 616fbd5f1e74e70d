import type { Tf } from './tf.js';

type Tensor = import('@tensorflow/tfjs-node').Tensor;
type LayerArgs = import('@tensorflow/tfjs-node').serialization.ConfigDict & { name?: string; rate: number };

const registered = new WeakMap<Tf, ReturnType<typeof defineDropConnect>>();

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

/** The custom layers of effscale models, registered with `tf` (idempotent); call before loading a saved model. */
export function customLayers(tf: Tf): { DropConnect: ReturnType<typeof defineDropConnect> } {
  let DropConnect = registered.get(tf);
  if (!DropConnect) {
    DropConnect = defineDropConnect(tf);
    registered.set(tf, DropConnect);
  }
  return { DropConnect };
}
