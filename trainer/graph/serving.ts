import type { Architecture } from '../../scaling/architecture.js';
import { DType, GraphBuilder, type Endpoint, type Signature } from './graph-def.js';
import { planVariables } from './model-weights.js';
import { Ops } from './ops.js';
import { emitPass, network } from './program.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;

/** The tag the serving graph is loaded under (one session per served model). */
export const servingGraphTag = 'serve';
/** The signature TensorFlow Serving and `tf.saved_model.load` look for. */
export const SERVING_SIGNATURE = 'serving_default';

/**
 * The inference graph a server runs, with the endpoints it feeds and fetches. `images` → `pixels` → `probabilities`
 * is the SavedModel export's `serving_default` computation (trainer/graph/export.ts) with the same frozen weights.
 * `pixels` is a PlaceholderWithDefault: a server that already holds a batch at the network's resolution feeds it
 * there and the resize is pruned from the run; fed an image of another size at `images`, a fetch of `pixels` is
 * that image resized.
 */
export interface ServingGraph {
  savedModel: Uint8Array;
  /** Its `serving_default` signature (`images` in, `probabilities` out), as the SavedModel carries it. */
  signature: Signature;
  /** float N×H×W×C, 0–255, any H×W (C = the network's channels). */
  images: Endpoint;
  /** float N×R×R×C, 0–255, at the network's resolution R. */
  pixels: Endpoint;
  /** float N×classes. */
  probabilities: Endpoint;
}

/**
 * Builds the serving graph of a trained model. A model trained on image files (`cropPct` set) is fed as its
 * validation saw it: the center crop, then a half-pixel resize (trainer/data/pipeline-decode.ts); otherwise a plain
 * resize, as effscale's own preprocessing of array datasets. The SavedModel export is this graph's `savedModel`.
 */
export function servingGraph(
  arch: Architecture,
  model: LayersModel,
  { cropPct }: { cropPct?: number } = {},
): ServingGraph {
  const graph = new GraphBuilder();
  const ops = new Ops(graph);
  const net = network(arch);
  const constants = ops.scope('weights');
  const variables = planVariables(model, net.weights);
  const frozen = net.weights.map((w, i) => constants.floats(variables[i].read().dataSync() as Float32Array, w.shape));
  const images = ops.placeholder('images', DType.float, [-1, -1, -1, arch.inputChannels]);
  const side = arch.resolution;
  const pre = ops.scope('preprocess');
  const cropped = cropPct === undefined ? images : centerCrop(pre, images, cropPct);
  const resized = graph.node('ResizeBilinear', 'preprocess/ResizeBilinear', [cropped, pre.ints([side, side])], {
    T: { type: DType.float },
    align_corners: { b: false },
    half_pixel_centers: { b: cropPct !== undefined },
  });
  const shape = [-1, side, side, arch.inputChannels];
  const pixels = ops.placeholderWithDefault('pixels', resized, DType.float, shape);
  const scale = ops.scope('scale');
  const scaled = scale.sub(scale.div(pixels, scale.floats([127.5])), scale.floats([1]));
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
  const signature: Signature = {
    inputs: { images: { endpoint: images, dtype: DType.float, shape: [-1, -1, -1, arch.inputChannels] } },
    outputs: { probabilities: { endpoint: probabilities, dtype: DType.float, shape: [-1, arch.classes] } },
  };
  const savedModel = graph.savedModel([servingGraphTag], { [SERVING_SIGNATURE]: signature });
  return { savedModel, signature, images, pixels, probabilities };
}

/**
 * The centered square of `fraction` × the short side of each batch's images, computed as the input pipeline's
 * evaluation crop computes it (float32 product, floor, at least 1; offsets ⌊(side − crop + 1) / 2⌋).
 */
function centerCrop(ops: Ops, images: Endpoint, fraction: number): Endpoint {
  const int = { T: { type: DType.int32 } };
  const node = (op: string, inputs: Endpoint[], attrs = {}) =>
    ops.graph.node(op, `preprocess/crop/${op}`, inputs, attrs);
  const sides = node('Slice', [ops.shape(images), ops.ints([1]), ops.ints([2])], {
    ...int,
    Index: { type: DType.int32 },
  });
  const short = node('Min', [sides, ops.ints([0], [])], {
    ...int,
    Tidx: { type: DType.int32 },
    keep_dims: { b: false },
  });
  const scaled = ops.mul(ops.cast(short, DType.int32, DType.float), ops.floats([fraction], []));
  const crop = node('Maximum', [ops.cast(ops.floor(scaled), DType.float, DType.int32), ops.ints([1], [])], int);
  const offset = node(
    'FloorDiv',
    [node('AddV2', [node('Sub', [sides, crop], int), ops.ints([1], [])], int), ops.ints([2], [])],
    int,
  );
  const concat = (parts: Endpoint[]) =>
    node('ConcatV2', [...parts, ops.ints([0], [])], { N: { i: parts.length }, ...int, Tidx: { type: DType.int32 } });
  const begin = concat([ops.ints([0]), offset, ops.ints([0])]);
  const size = concat([ops.ints([-1]), ops.pack([crop, crop], DType.int32), ops.ints([-1])]);
  return node('Slice', [images, begin, size], { T: { type: DType.float }, Index: { type: DType.int32 } });
}
