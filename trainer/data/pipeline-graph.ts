import { DType, GraphBuilder, type Attr, type Endpoint, type FunctionBuilder } from '../graph/graph-def.js';

/**
 * The input pipeline as a TensorFlow graph: tf.data ops that read, decode, crop, resize and flip images on
 * TensorFlow's own threads and prefetch batches while the training step runs. It is the graph Python's tf.data
 * builds (a TF1 initializable iterator): the file list of one pass is fed when the iterator starts, and every fetch
 * of `next` returns the following batch as uint8 pixels and int32 class ids, so no pixel is touched by JavaScript.
 */

/** Where the training image comes from: a random-resized crop (Inception / EfficientNet) or a center crop. */
export type CropRule =
  { kind: 'random-resized'; area: [number, number]; aspect: [number, number] } | { kind: 'center'; fraction: number };

export interface PipelineGraphOptions {
  resolution: number;
  channels: 1 | 3;
  classes: number;
  batchSize: number;
  /** Threads decoding in parallel: the size of the pipeline's private thread pool. */
  threads: number;
  /** Batches prepared ahead of the one being trained on. */
  prefetch: number;
  /** `jpeg` decodes only the crop window (DecodeAndCropJpeg); `any` decodes PNG, GIF, BMP, WebP and JPEG whole. */
  decode: 'jpeg' | 'any';
  crop: CropRule;
  flip: boolean;
  interpolation: 'bilinear' | 'bicubic';
  /** Drop images that fail to read or decode (the spec's skipCorrupt) instead of failing the pass. */
  skipErrors: boolean;
}

/** The endpoints the pipeline session is fed and fetched by. */
export interface PipelineGraph {
  savedModel: Uint8Array;
  feeds: { paths: Endpoint; labels: Endpoint; seeds: Endpoint };
  /** Fetch to (re)start the iterator on the fed file list. */
  start: Endpoint;
  /** uint8 [n, R, R, C] pixels and int32 [n] class ids of the next batch. */
  raw: { images: Endpoint; labels: Endpoint };
  /** The same batch as the network's float input in [-1, 1] and one-hot labels (for the eager engine). */
  normalized: { images: Endpoint; oneHot: Endpoint };
}

export const pipelineTag = 'effscale-input';

/**
 * How a raw uint8 pixel becomes the network's input in [-1, 1] (trainer/preprocess.ts): value × scale − offset.
 * Resized values are truncated to uint8, as Python's tf.cast does, which loses half a level on average — a pass
 * over every image to round them would cost 5 % of the pipeline; the offset puts the half level back instead.
 */
export const RAW_PIXEL = { scale: 1 / 127.5, offset: 1 - 0.5 / 127.5 } as const;
/** The per-image crop seed is the fed one; the flip draws from it shifted by this constant. */
const FLIP_SEED_OFFSET = 1013904223;
/** The EfficientNet reference's crop sampler: the crop covers at least 10 % of the image, ten tries. */
const MIN_OBJECT_COVERED = 0.1;
const MAX_ATTEMPTS = 10;

const t = (type: DType): Attr => ({ type });
const i64 = (graph: GraphBuilder, name: string, value: number) =>
  graph.node('Const', name, [], {
    dtype: t(DType.int64),
    value: { tensor: { dtype: DType.int64, shape: [], values: [value] } },
  });

export function buildPipelineGraph(options: PipelineGraphOptions): PipelineGraph {
  const { resolution: r, channels } = options;
  const graph = new GraphBuilder();
  const placeholder = (name: string, dtype: DType, shape: number[]) =>
    graph.node('Placeholder', `input/${name}`, [], { dtype: t(dtype), shape: { shape } });
  const paths = placeholder('paths', DType.string, [-1]);
  const labels = placeholder('labels', DType.int32, [-1]);
  const seeds = placeholder('seeds', DType.int32, [-1, 2]);

  const mapFn = graph.function(
    'effscale_load_image',
    [
      { name: 'path', type: DType.string },
      { name: 'label', type: DType.int32 },
      { name: 'seed', type: DType.int32 },
    ],
    [
      { name: 'image', type: DType.uint8 },
      { name: 'class_id', type: DType.int32 },
    ],
    (fn) => [loadImage(graph, fn, options), fn.node('Identity', ['label'], { T: t(DType.int32) })],
  );

  const elementTypes: Attr = { types: [DType.uint8, DType.int32] };
  const batchShapes = { shapes: [[-1, r, r, channels], [-1]] };
  const batched = { output_types: elementTypes, output_shapes: batchShapes };
  let dataset = graph.node('TensorSliceDataset', 'input/files', [paths, labels, seeds], {
    Toutput_types: { types: [DType.string, DType.int32, DType.int32] },
    output_shapes: { shapes: [[], [], [2]] },
  });
  dataset = decodeAndBatch(graph, dataset, mapFn, options);
  dataset = graph.node(
    'PrefetchDataset',
    'input/prefetch',
    [dataset, i64(graph, 'input/depth', options.prefetch)],
    batched,
  );
  // Each decode runs on one thread, and the pipeline owns a pool of `threads`: its cores follow the pod's CPU
  // limit instead of competing with the training step's pool for every core of the node.
  dataset = graph.node(
    'MaxIntraOpParallelismDataset',
    'input/one_thread_per_image',
    [dataset, i64(graph, 'input/one', 1)],
    batched,
  );
  dataset = graph.node(
    'PrivateThreadPoolDataset',
    'input/threads',
    [dataset, i64(graph, 'input/pool', options.threads)],
    batched,
  );

  const iterator = graph.node('IteratorV2', 'input/iterator', [], {
    ...batched,
    shared_name: { s: 'effscale_input' },
    container: { s: '' },
  });
  const made = graph.node('MakeIterator', 'input/make_iterator', [dataset, iterator]);
  const start = graph.node('Const', 'input/started', [], {
    dtype: t(DType.int32),
    value: { tensor: { dtype: DType.int32, shape: [], values: [1] } },
  });
  const started = graph.node('Identity', 'input/start', [start], { T: t(DType.int32) }, [made]);
  const next = graph.node('IteratorGetNext', 'input/next', [iterator], batched);
  const raw = { images: `${next}:0`, labels: `${next}:1` };
  const normalized = normalize(graph, raw, options.classes);
  const savedModel = graph.savedModel([pipelineTag], {});
  return { savedModel, feeds: { paths, labels, seeds }, start: started, raw, normalized };
}

/**
 * Decoding in parallel, then batching. Python tf.data's default fusion (MapAndBatchDataset: each decode writes its
 * image straight into the batch's buffer) unless corrupt files are skipped, which needs the per-image
 * IgnoreErrorsDataset between the two.
 */
function decodeAndBatch(graph: GraphBuilder, files: Endpoint, mapFn: string, options: PipelineGraphOptions): Endpoint {
  const { resolution: r, channels } = options;
  const types: Attr = { types: [DType.uint8, DType.int32] };
  const element = { output_types: types, output_shapes: { shapes: [[r, r, channels], []] } };
  const batched = { output_types: types, output_shapes: { shapes: [[-1, r, r, channels], [-1]] } };
  const map = { f: { func: mapFn }, Targuments: { types: [] }, preserve_cardinality: { b: true } };
  const parallel = i64(graph, 'input/parallel', options.threads);
  const batchSize = i64(graph, 'input/batch_size', options.batchSize);
  const keepRemainder = graph.node('Const', 'input/drop_remainder', [], {
    dtype: t(DType.bool),
    value: { tensor: { dtype: DType.bool, shape: [], values: [0] } },
  });
  if (!options.skipErrors) {
    return graph.node('MapAndBatchDataset', 'input/decode', [files, batchSize, parallel, keepRemainder], {
      ...map,
      ...batched,
    });
  }
  const decoded = graph.node('ParallelMapDatasetV2', 'input/decode', [files, parallel], {
    ...map,
    ...element,
    deterministic: { s: 'true' },
    use_inter_op_parallelism: { b: true },
  });
  const kept = graph.node('IgnoreErrorsDataset', 'input/skip_corrupt', [decoded], element);
  return graph.node('BatchDatasetV2', 'input/batch', [kept, batchSize, keepRemainder], {
    ...batched,
    parallel_copy: { b: false },
  });
}

/** The network's input convention (trainer/preprocess.ts): values in [-1, 1]; labels one-hot. */
function normalize(graph: GraphBuilder, raw: PipelineGraph['raw'], classes: number) {
  const float = graph.node('Cast', 'input/to_float', [raw.images], { SrcT: t(DType.uint8), DstT: t(DType.float) });
  const scalar = (name: string, value: number) =>
    graph.node('Const', name, [], {
      dtype: t(DType.float),
      value: { tensor: { dtype: DType.float, shape: [], values: [value] } },
    });
  const scaled = graph.node('Mul', 'input/scale', [float, scalar('input/scale_by', RAW_PIXEL.scale)], {
    T: t(DType.float),
  });
  const images = graph.node('Sub', 'input/center', [scaled, scalar('input/offset', RAW_PIXEL.offset)], {
    T: t(DType.float),
  });
  const depth = graph.node('Const', 'input/classes', [], {
    dtype: t(DType.int32),
    value: { tensor: { dtype: DType.int32, shape: [], values: [classes] } },
  });
  const oneHot = graph.node(
    'OneHot',
    'input/one_hot',
    [raw.labels, depth, scalar('input/on', 1), scalar('input/off', 0)],
    {
      T: t(DType.float),
      TI: t(DType.int32),
      axis: { i: -1 },
    },
  );
  return { images, oneHot };
}

/** The map function's body: one file's bytes to one R×R×C uint8 image. */
function loadImage(graph: GraphBuilder, fn: FunctionBuilder, options: PipelineGraphOptions): Endpoint {
  const { channels, resolution: r } = options;
  const ops = new FnOps(fn);
  const contents = fn.node('ReadFile', ['path'], {}, 'contents');
  let decoded: Endpoint;
  if (options.decode === 'jpeg') {
    const shape = fn.node('ExtractJpegShape', [contents], { output_type: t(DType.int32) }, 'image_shape');
    decoded = decodeJpegWindow(graph, fn, ops, contents, cropWindow(ops, shape, options.crop), options);
  } else {
    const whole = fn.node(
      'DecodeImage',
      [contents],
      { channels: { i: channels }, dtype: t(DType.uint8), expand_animations: { b: false } },
      'image',
    );
    const shape = fn.node('Shape', [whole], { T: t(DType.uint8), out_type: t(DType.int32) });
    const window = cropWindow(ops, shape, options.crop);
    const begin = ops.concat([ops.slice(window, 0, 2), ops.ints([0])]);
    const size = ops.concat([ops.slice(window, 2, 2), ops.ints([-1])]);
    decoded = fn.node('Slice', [whole, begin, size], { T: t(DType.uint8), Index: t(DType.int32) });
  }
  const batchOfOne = fn.node('ExpandDims', [decoded, ops.ints([0], [])], { T: t(DType.uint8), Tdim: t(DType.int32) });
  const resize = options.interpolation === 'bicubic' ? 'ResizeBicubic' : 'ResizeBilinear';
  const resized = fn.node(
    resize,
    [batchOfOne, ops.ints([r, r])],
    { T: t(DType.uint8), align_corners: { b: false }, half_pixel_centers: { b: true } },
    'resized_images',
  );
  let pixels = fn.node('Squeeze', [resized], { T: t(DType.float), squeeze_dims: { ints: [0] } });
  // A bilinear mix of uint8 pixels stays within 0–255; a bicubic one can overshoot.
  if (options.interpolation === 'bicubic')
    pixels = fn.node('ClipByValue', [pixels, ops.float(0), ops.float(255)], { T: t(DType.float) });
  const image = fn.node('Cast', [pixels], { SrcT: t(DType.float), DstT: t(DType.uint8), Truncate: { b: false } }, 'y');
  return options.flip ? randomFlip(fn, ops, image) : image;
}

/** The JPEG decoder's scale factors: it can decode at 1/2, 1/4 or 1/8 of the size directly. */
const JPEG_RATIOS = [1, 2, 4, 8];

/**
 * Decodes a JPEG's crop window at the largest decoder scale that still leaves the window's short side at least
 * the resolution: a 12-megapixel photo costs the memory and the time of a small one, and the resize that follows
 * only ever shrinks. The scale is a static attribute of the op, so a Case picks one decode per scale; the window
 * is in the scaled image's pixels.
 */
function decodeJpegWindow(
  graph: GraphBuilder,
  fn: FunctionBuilder,
  ops: FnOps,
  contents: Endpoint,
  window: Endpoint,
  options: PipelineGraphOptions,
): Endpoint {
  const args = [
    { name: 'contents', type: DType.string },
    { name: 'window', type: DType.int32 },
  ];
  const branches = JPEG_RATIOS.map((ratio) =>
    graph.function(`effscale_decode_jpeg_1_${ratio}`, args, [{ name: 'image', type: DType.uint8 }], (branch) => {
      const scaled =
        ratio === 1
          ? 'window'
          : branch.node(
              'FloorDiv',
              ['window', new FnOps(branch).ints([ratio, ratio, ratio, ratio])],
              { T: t(DType.int32) },
              'z',
            );
      const attrs = {
        channels: { i: options.channels },
        ratio: { i: ratio },
        fancy_upscaling: { b: true },
        try_recover_truncated: { b: false },
        acceptable_fraction: { f: 1 },
        dct_method: { s: '' },
      };
      return [branch.node('DecodeAndCropJpeg', ['contents', scaled], attrs, 'image')];
    }),
  );
  const short = fn.node('Min', [ops.slice(window, 2, 2), ops.ints([0], [])], {
    T: t(DType.int32),
    Tidx: t(DType.int32),
    keep_dims: { b: false },
  });
  const fits = JPEG_RATIOS.slice(1).map((ratio) => {
    const big = fn.node(
      'GreaterEqual',
      [short, ops.ints([ratio * options.resolution], [])],
      { T: t(DType.int32) },
      'z',
    );
    return fn.node('Cast', [big], { SrcT: t(DType.bool), DstT: t(DType.int32), Truncate: { b: false } }, 'y');
  });
  const scale = fn.node('AddN', fits, { N: { i: fits.length }, T: t(DType.int32) }, 'sum');
  return fn.node(
    'Case',
    [scale, contents, window],
    {
      Tin: { types: [DType.string, DType.int32] },
      Tout: { types: [DType.uint8] },
      branches: { funcs: branches },
      output_shapes: { shapes: [[-1, -1, options.channels]] },
    },
    'output',
  );
}

/** [y, x, height, width] of the part of the image the network sees, from its [height, width, channels]. */
function cropWindow(ops: FnOps, shape: Endpoint, crop: CropRule): Endpoint {
  const { fn } = ops;
  if (crop.kind === 'random-resized') {
    const noBoxes = fn.node('Const', [], {
      dtype: t(DType.float),
      value: { tensor: { dtype: DType.float, shape: [1, 0, 4], values: [] } },
    });
    const sample = fn.node(
      'StatelessSampleDistortedBoundingBox',
      [shape, noBoxes, ops.float(MIN_OBJECT_COVERED), 'seed'],
      {
        T: t(DType.int32),
        Tseed: t(DType.int32),
        area_range: { floats: crop.area },
        aspect_ratio_range: { floats: crop.aspect },
        max_attempts: { i: MAX_ATTEMPTS },
        use_image_if_no_bounding_boxes: { b: true },
      },
      'begin',
    );
    const size = sample.replace(':begin:0', ':size:0');
    return ops.concat([ops.slice(sample, 0, 2), ops.slice(size, 0, 2)]);
  }
  // The centered square of side fraction × the short side (the EfficientNet evaluation crop at 0.875).
  const sides = ops.slice(shape, 0, 2);
  const short = fn.node('Min', [sides, ops.ints([0], [])], {
    T: t(DType.int32),
    Tidx: t(DType.int32),
    keep_dims: { b: false },
  });
  const scaled = fn.node(
    'Mul',
    [fn.node('Cast', [short], { SrcT: t(DType.int32), DstT: t(DType.float) }, 'y'), ops.float(crop.fraction)],
    { T: t(DType.float) },
    'z',
  );
  const side = fn.node(
    'Maximum',
    [
      fn.node(
        'Cast',
        [fn.node('Floor', [scaled], { T: t(DType.float) }, 'y')],
        { SrcT: t(DType.float), DstT: t(DType.int32) },
        'y',
      ),
      ops.ints([1], []),
    ],
    { T: t(DType.int32) },
    'z',
  );
  const margin = fn.node(
    'AddV2',
    [fn.node('Sub', [sides, side], { T: t(DType.int32) }, 'z'), ops.ints([1], [])],
    { T: t(DType.int32) },
    'z',
  );
  const offset = fn.node('FloorDiv', [margin, ops.ints([2], [])], { T: t(DType.int32) }, 'z');
  const square = fn.node('Pack', [side, side], { N: { i: 2 }, T: t(DType.int32), axis: { i: 0 } });
  return ops.concat([offset, square]);
}

/** A left-right flip with probability ½, drawn from the image's seed: the same draw in every run and resume. */
function randomFlip(fn: FunctionBuilder, ops: FnOps, pixels: Endpoint): Endpoint {
  const seed = fn.node('AddV2', ['seed', ops.ints([FLIP_SEED_OFFSET, 0])], { T: t(DType.int32) }, 'z');
  const draw = fn.node('StatelessRandomUniform', [ops.ints([], [0]), seed], {
    dtype: t(DType.float),
    T: t(DType.int32),
    Tseed: t(DType.int32),
  });
  const flip = fn.node('Less', [draw, ops.float(0.5)], { T: t(DType.float) }, 'z');
  // The reversed axes are [1] or none: one ReverseV2 either way, never a select over two images (a broadcast
  // SelectV2 costs more than the decode's crop on 224-px images).
  const count = fn.node('Cast', [flip], { SrcT: t(DType.bool), DstT: t(DType.int32), Truncate: { b: false } }, 'y');
  const length = fn.node('Pack', [count], { N: { i: 1 }, T: t(DType.int32), axis: { i: 0 } });
  const axes = fn.node('Slice', [ops.ints([1]), ops.ints([0]), length], { T: t(DType.int32), Index: t(DType.int32) });
  return fn.node('ReverseV2', [pixels, axes], { T: t(DType.uint8), Tidx: t(DType.int32) });
}

/** The few int32 helpers the map function needs, spelled once. */
class FnOps {
  constructor(readonly fn: FunctionBuilder) {}

  ints(values: number[], shape: number[] = [values.length]): Endpoint {
    return this.fn.node('Const', [], {
      dtype: t(DType.int32),
      value: { tensor: { dtype: DType.int32, shape, values } },
    });
  }

  float(value: number): Endpoint {
    return this.fn.node('Const', [], {
      dtype: t(DType.float),
      value: { tensor: { dtype: DType.float, shape: [], values: [value] } },
    });
  }

  /** `length` int32 values of a vector from `begin`. */
  slice(x: Endpoint, begin: number, length: number): Endpoint {
    return this.fn.node('Slice', [x, this.ints([begin]), this.ints([length])], {
      T: t(DType.int32),
      Index: t(DType.int32),
    });
  }

  concat(parts: Endpoint[]): Endpoint {
    return this.fn.node('ConcatV2', [...parts, this.ints([0], [])], {
      N: { i: parts.length },
      T: t(DType.int32),
      Tidx: t(DType.int32),
    });
  }
}
