import { DType, type Endpoint, type FunctionBuilder, type GraphBuilder } from '../graph/graph-def.js';
import { FnOps, t } from './fn-ops.js';
import {
  affine,
  autoContrast,
  brightness,
  color,
  contrast,
  equalize,
  invert,
  posterize,
  sharpness,
  solarize,
  type ImageShape,
} from './randaugment-ops.js';

/**
 * RandAugment(N, M) (Cubuk et al., 2019) in the input pipeline's map function: N times, one op drawn uniformly
 * from RAND_AUGMENT_OPS is applied at magnitude M, on the 0–30 scale of the EfficientNet reference
 * (autoaugment.py: level = M / 10, strengths linear in it). Every draw is stateless, from the image's seed, so it
 * repeats in every run and resume. Each op is a library function and a Case runs the drawn one only.
 *
 * Strengths at level M / 10, the sign of each signed one drawn per image: Rotate ±30°·level, ShearX/Y ±0.3·level,
 * TranslateX/Y ±0.45·level of the side (timm's TranslateRel), Color, Contrast, Brightness and Sharpness by a factor
 * 1 ± 0.9·level of at least 0.1; Solarize inverts the levels ≥ 256 − ⌊256·level⌋ (at least 0) and Posterize
 * keeps 4 − ⌊4·level⌋ bits (at least 1): timm's increasing variants, which strengthen with M where the
 * reference's weaken. The affine ops take the nearest source pixel and fill with gray 128, as the reference does;
 * the colour ops are PIL's, as timm runs them (randaugment-ops.ts).
 * Left out: the reference's Cutout and SolarizeAdd, and timm's per-op probability and magnitude noise.
 */

export interface RandAugmentOptions {
  /** Ops applied to each image, one after another. */
  n: number;
  /** Strength of every op, 0–30 (10 is the reference's level 1). */
  magnitude: number;
}

const RAND_AUGMENT_OPS = [
  'Identity',
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'Posterize',
  'Solarize',
  'Color',
  'Contrast',
  'Brightness',
  'Sharpness',
  'ShearX',
  'ShearY',
  'TranslateX',
  'TranslateY',
] as const;
export type RandAugmentOp = (typeof RAND_AUGMENT_OPS)[number];

/** Layer k draws its op from the image's seed shifted by this constant + 2k, the op's sign from the next one. */
const RAND_AUGMENT_SEED_OFFSET = 1540483477;

/** What one op function is built for: the image's shape and the magnitude. */
export type OpSettings = ImageShape & { magnitude: number };

type Sign = 1 | -1;
/** A float constant of `shape`: `values(1)` or `values(-1)`, by the sign drawn for the image. */
type Signed = (values: (sign: Sign) => number[], shape: number[]) => Endpoint;
type OpBuilder = (ops: FnOps, image: Endpoint, signed: Signed, s: OpSettings) => Endpoint;
type ColourOp = (ops: FnOps, image: Endpoint, factor: Endpoint, shape: ImageShape) => Endpoint;

const level = (s: OpSettings) => s.magnitude / 10;

/** A colour op at the factor 1 ± 0.9·level, at least 0.1. */
const enhanced =
  (op: ColourOp): OpBuilder =>
  (ops, image, signed, s) => {
    const factor = signed((sign) => [Math.max(0.1, 1 + sign * 0.9 * level(s))], []);
    return op(ops, image, factor, s);
  };

/** An affine op from its map of output to source pixel, [a0, a1, a2, b0, b1, b2] as tfa writes it (see `affine`). */
const moved =
  (matrix: (s: OpSettings, sign: Sign) => number[]): OpBuilder =>
  (ops, image, signed, s) => {
    const transform = signed((sign) => matrix(s, sign), [6]);
    return affine(ops, image, transform, s);
  };

/** Rotation by `degrees` counter-clockwise about the image's centre (tfa.image.rotate's transform). */
function rotation(degrees: number, resolution: number): number[] {
  const angle = (degrees * Math.PI) / 180;
  const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
  const c = (resolution - 1) / 2;
  return [cos, -sin, c - cos * c + sin * c, sin, cos, c - sin * c - cos * c];
}

const OPS: Record<RandAugmentOp, OpBuilder> = {
  Identity: (ops, image) => ops.fn.node('Identity', [image], { T: t(DType.uint8) }),
  AutoContrast: (ops, image, _, s) => autoContrast(ops, image, s),
  Equalize: (ops, image, _, s) => equalize(ops, image, s),
  Invert: (ops, image) => invert(ops, image),
  Rotate: moved((s, sign) => rotation(sign * 30 * level(s), s.resolution)),
  Posterize: (ops, image, _, s) => posterize(ops, image, Math.max(1, 4 - Math.floor(4 * level(s)))),
  Solarize: (ops, image, _, s) => solarize(ops, image, Math.max(0, 256 - Math.floor(256 * level(s)))),
  Color: enhanced(color),
  Contrast: enhanced(contrast),
  Brightness: enhanced(brightness),
  Sharpness: enhanced(sharpness),
  ShearX: moved((s, sign) => [1, sign * 0.3 * level(s), 0, 0, 1, 0]),
  ShearY: moved((s, sign) => [1, 0, 0, sign * 0.3 * level(s), 1, 0]),
  TranslateX: moved((s, sign) => [1, 0, sign * 0.45 * level(s) * s.resolution, 0, 1, 0]),
  TranslateY: moved((s, sign) => [1, 0, 0, 0, 1, sign * 0.45 * level(s) * s.resolution]),
};

/** The ops drawn from: Color is the identity on one channel, which leaves it out. */
export function randAugmentOps(channels: 1 | 3): RandAugmentOp[] {
  return RAND_AUGMENT_OPS.filter((op) => channels === 3 || op !== 'Color');
}

/**
 * Adds `op` to the graph's library as a function (image uint8 [R, R, C], seed int32 [2]) → image uint8, its sign
 * (if it has one) drawn from the seed: negative for a uniform draw below ½. Returns the function's name.
 */
export function randAugmentFunction(graph: GraphBuilder, op: RandAugmentOp, settings: OpSettings): string {
  const args = [
    { name: 'image', type: DType.uint8 },
    { name: 'seed', type: DType.int32 },
  ];
  return graph.function(`effscale_randaugment_${op}`, args, [{ name: 'augmented', type: DType.uint8 }], (fn) => {
    const ops = new FnOps(fn);
    const signed: Signed = (values, shape) => {
      const draw = fn.node('StatelessRandomUniform', [ops.ints([], [0]), 'seed'], {
        dtype: t(DType.float),
        T: t(DType.int32),
        Tseed: t(DType.int32),
      });
      const negative = ops.math('Less', draw, ops.float(0.5));
      return ops.select(negative, ops.floats(values(-1), shape), ops.floats(values(1), shape));
    };
    return [OPS[op](ops, 'image', signed, settings)];
  });
}

/** RandAugment(n, magnitude) of one uint8 [R, R, C] image, its draws keyed by `seed` (int32 [2]). */
export function randAugment(
  graph: GraphBuilder,
  fn: FunctionBuilder,
  image: Endpoint,
  seed: Endpoint,
  options: RandAugmentOptions & ImageShape,
): Endpoint {
  const { resolution: r, channels } = options;
  const ops = new FnOps(fn);
  const branches = randAugmentOps(channels).map((op) => randAugmentFunction(graph, op, options));
  let augmented = image;
  for (let layer = 0; layer < options.n; layer++) {
    const [choice, sign] = [0, 1].map((k) =>
      ops.math('AddV2', seed, ops.ints([RAND_AUGMENT_SEED_OFFSET + 2 * layer + k, 0]), DType.int32),
    );
    const index = fn.node(
      'StatelessRandomUniformInt',
      [ops.ints([], [0]), choice, ops.ints([0], []), ops.ints([branches.length], [])],
      { dtype: t(DType.int32), T: t(DType.int32), Tseed: t(DType.int32) },
    );
    augmented = fn.node(
      'Case',
      [index, augmented, sign],
      {
        Tin: { types: [DType.uint8, DType.int32] },
        Tout: { types: [DType.uint8] },
        branches: { funcs: branches },
        output_shapes: { shapes: [[r, r, channels]] },
      },
      'output',
    );
  }
  return augmented;
}
