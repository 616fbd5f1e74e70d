import type { Architecture } from '../../scaling/architecture.js';
import { DType, GraphBuilder, type Endpoint } from './graph-def.js';
import { planVariables } from './model-weights.js';
import { Ops } from './ops.js';
import { emitPass, network } from './program.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;

/** The tag the serving graph is loaded under (one session per served model). */
export const servingGraphTag = 'serve';

/**
 * The inference graph a server runs, with the endpoints it feeds and fetches. `images` → `pixels` → `probabilities`
 * is the SavedModel export's `serving_default` computation (trainer/graph/export.ts) with the same frozen weights.
 * `pixels` is a PlaceholderWithDefault: a server that already holds a batch at the network's resolution feeds it
 * there and the resize is pruned from the run; fed an image of another size at `images`, a fetch of `pixels` is
 * that image resized.
 */
export interface ServingGraph {
  savedModel: Uint8Array;
  /** float N×H×W×C, 0–255, any H×W (C = the network's channels). */
  images: Endpoint;
  /** float N×R×R×C, 0–255, at the network's resolution R. */
  pixels: Endpoint;
  /** float N×classes. */
  probabilities: Endpoint;
}

/**
 * Builds the serving graph of a trained model. `halfPixel` selects the resize a model trained on image files was
 * validated with (a center crop, then a half-pixel resize: trainer/preprocess.ts); the crop itself is the
 * caller's, since its window depends on each image's size.
 */
export function servingGraph(arch: Architecture, model: LayersModel, { halfPixel = false } = {}): ServingGraph {
  const graph = new GraphBuilder();
  const ops = new Ops(graph);
  const net = network(arch);
  const constants = ops.scope('weights');
  const variables = planVariables(model, net.weights);
  const frozen = net.weights.map((w, i) => constants.floats(variables[i].read().dataSync() as Float32Array, w.shape));
  const images = ops.placeholder('images', DType.float, [-1, -1, -1, arch.inputChannels]);
  const side = arch.resolution;
  const size = ops.scope('preprocess').ints([side, side]);
  const resized = graph.node('ResizeBilinear', 'preprocess/ResizeBilinear', [images, size], {
    T: { type: DType.float },
    align_corners: { b: false },
    half_pixel_centers: { b: halfPixel },
  });
  const shape = [-1, side, side, arch.inputChannels];
  const pixels = ops.placeholderWithDefault('pixels', resized, DType.float, shape);
  const pre = ops.scope('scale');
  const scaled = pre.sub(pre.div(pixels, pre.floats([127.5])), pre.floats([1]));
  const pass = emitPass(
    ops.scope('network'),
    net,
    arch,
    { training: false },
    {
      read: (op) => (net.opWeights.get(op) ?? []).map((i) => frozen[i]),
      handles: () => {
        throw new Error('a serving graph has no variables');
      },
    },
    scaled,
  );
  const probabilities = ops.scope('output').softmax(pass.logits);
  const savedModel = graph.savedModel([servingGraphTag], {
    serving_default: {
      inputs: { images: { endpoint: images, dtype: DType.float, shape: [-1, -1, -1, arch.inputChannels] } },
      outputs: { probabilities: { endpoint: probabilities, dtype: DType.float, shape: [-1, arch.classes] } },
    },
  });
  return { savedModel, images, pixels, probabilities };
}
