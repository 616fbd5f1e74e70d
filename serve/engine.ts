import type { Architecture } from '../scaling/architecture.js';
import { servingGraph, servingGraphTag, type ServingGraph } from '../trainer/graph/serving.js';
import type { Signature } from '../trainer/graph/graph-def.js';
import { GraphSession } from '../trainer/graph/session.js';
import type { InputShape } from '../trainer/preprocess.js';
import type { Tf } from '../trainer/tf.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;

/**
 * A served model's inference graph (trainer/graph/serving.ts) in one native TensorFlow session: the weights are
 * frozen into the graph once, and every batch is one session run. TensorFlow reads a batch straight from the
 * Float32Array it is handed (tfjs-node wraps the array's memory, no copy), so the server decodes each image into
 * its slot of that array and nothing else is copied on the way in.
 */
export class ServingEngine {
  /** Floats of one image at the network's input: R × R × C. */
  readonly slot: number;
  readonly classes: number;
  private disposed = false;

  private constructor(
    private readonly tf: Tf,
    private readonly graph: Omit<ServingGraph, 'savedModel'>,
    private readonly session: GraphSession,
    readonly input: InputShape,
    classes: number,
  ) {
    this.slot = input.resolution * input.resolution * input.inputChannels;
    this.classes = classes;
  }

  /** Builds and loads the graph of a trained model; the tfjs model is only read (the caller may dispose it). */
  static load(tf: Tf, arch: Architecture, model: LayersModel, input: InputShape): ServingEngine {
    const { savedModel, ...graph } = servingGraph(arch, model, { cropPct: input.cropPct });
    const session = GraphSession.load(tf, savedModel, servingGraphTag);
    return new ServingEngine(tf, graph, session, input, arch.classes);
  }

  /**
   * Probabilities of a batch of `size` images at the network's input (raw 0–255 values), row after row. The
   * batch array is read in place, and may be reused once this returns.
   */
  predict(batch: Float32Array, size: number): Float32Array {
    const { resolution: r, inputChannels: c } = this.input;
    return this.run(batch, [size, r, r, c], this.graph.pixels, this.graph.probabilities);
  }

  /**
   * One image of `height` × `width` (raw values, the network's channels) as the network's input: center-cropped
   * (a model trained on image files) and resized by the graph, as the SavedModel export does it.
   */
  resize(image: Float32Array, height: number, width: number): Float32Array {
    return this.run(image, [1, height, width, this.input.inputChannels], this.graph.images, this.graph.pixels);
  }

  private run(values: Float32Array, shape: number[], feed: string, fetch: string): Float32Array {
    if (this.disposed) throw new Error('the serving engine was disposed');
    const x = this.tf.tensor(values, shape, 'float32');
    try {
      const [y] = this.session.run([[feed, x]], [fetch]);
      try {
        return y?.dataSync() as Float32Array;
      } finally {
        y?.dispose();
      }
    } finally {
      x.dispose();
    }
  }

  /** Its `serving_default` signature, the SavedModel export's. */
  get signature(): Signature {
    return this.graph.signature;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.session.dispose();
  }
}
