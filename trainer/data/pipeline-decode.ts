import { DType, type Endpoint, type FunctionBuilder, type GraphBuilder } from '../graph/graph-def.js';
import { FnOps, t } from './fn-ops.js';
import { randAugment, type RandAugmentOptions } from './randaugment.js';

/** Where the training image comes from: a random-resized crop (Inception / EfficientNet) or a center crop. */
export type CropRule =
  { kind: 'random-resized'; area: [number, number]; aspect: [number, number] } | { kind: 'center'; fraction: number };

/** What decoding makes of an encoded image. */
export interface DecodeOptions {
  resolution: number;
  channels: 1 | 3;
  /** `jpeg` decodes only the crop window (DecodeAndCropJpeg); `any` decodes PNG, GIF, BMP, WebP and JPEG whole. */
  decode: 'jpeg' | 'any';
  crop: CropRule;
  flip: boolean;
  /** Training only: RandAugment on the resized image, before the flip. */
  randAugment?: RandAugmentOptions;
  interpolation: 'bilinear' | 'bicubic';
}

/** The flip draws from the image's seed shifted by this constant. */
const FLIP_SEED_OFFSET = 1013904223;
/** The EfficientNet reference's crop sampler: the crop covers at least 10 % of the image, ten tries. */
const MIN_OBJECT_COVERED = 0.1;
const MAX_ATTEMPTS = 10;

/**
 * The map function's image work: an encoded image (`contents`, a string) to one R×R×C uint8 image, its random
 * draws keyed by `seed` (int32 [2]). Extra library functions it needs (the JPEG decoder's scales) go to `graph`.
 */
export function decodeImage(
  graph: GraphBuilder,
  fn: FunctionBuilder,
  contents: Endpoint,
  seed: Endpoint,
  options: DecodeOptions,
): Endpoint {
  const { channels, resolution: r } = options;
  const ops = new FnOps(fn);
  let decoded: Endpoint;
  if (options.decode === 'jpeg') {
    const shape = fn.node('ExtractJpegShape', [contents], { output_type: t(DType.int32) }, 'image_shape');
    decoded = decodeJpegWindow(graph, fn, ops, contents, cropWindow(ops, shape, seed, options.crop), options);
  } else {
    const whole = fn.node(
      'DecodeImage',
      [contents],
      { channels: { i: channels }, dtype: t(DType.uint8), expand_animations: { b: false } },
      'image',
    );
    const shape = fn.node('Shape', [whole], { T: t(DType.uint8), out_type: t(DType.int32) });
    const window = cropWindow(ops, shape, seed, options.crop);
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
  let image = fn.node('Cast', [pixels], { SrcT: t(DType.float), DstT: t(DType.uint8), Truncate: { b: false } }, 'y');
  if (options.randAugment)
    image = randAugment(graph, fn, image, seed, { ...options.randAugment, resolution: r, channels });
  return options.flip ? randomFlip(fn, ops, image, seed) : image;
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
  options: DecodeOptions,
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
function cropWindow(ops: FnOps, shape: Endpoint, seed: Endpoint, crop: CropRule): Endpoint {
  const { fn } = ops;
  if (crop.kind === 'random-resized') {
    const noBoxes = fn.node('Const', [], {
      dtype: t(DType.float),
      value: { tensor: { dtype: DType.float, shape: [1, 0, 4], values: [] } },
    });
    const sample = fn.node(
      'StatelessSampleDistortedBoundingBox',
      [shape, noBoxes, ops.float(MIN_OBJECT_COVERED), seed],
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
function randomFlip(fn: FunctionBuilder, ops: FnOps, pixels: Endpoint, imageSeed: Endpoint): Endpoint {
  const seed = fn.node('AddV2', [imageSeed, ops.ints([FLIP_SEED_OFFSET, 0])], { T: t(DType.int32) }, 'z');
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
