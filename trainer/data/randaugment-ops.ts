import { DType, type Endpoint } from '../graph/graph-def.js';
import { t, type FnOps } from './fn-ops.js';

/**
 * The image ops of RandAugment (randaugment.ts), each a few TensorFlow ops on one uint8 [R, R, C] image. The
 * pixel and colour ops reproduce PIL's ImageOps and ImageEnhance (what timm's RandAugment runs) level for level:
 * integer luma, blends truncated in float32 as PIL's, a rounded SMOOTH filter with the border kept.
 *
 * A per-channel vector is applied to the [R, R·C] view of an image, tiled R times: broadcast along the rows it
 * costs a quarter of what a [C] vector broadcast along the innermost axis costs.
 */

const { float: F, int32: I32, uint8: U8 } = DType;

/** The pipeline's image: its side and channels, static. */
export interface ImageShape {
  resolution: number;
  channels: 1 | 3;
}

const reshape = (ops: FnOps, x: Endpoint, shape: number[], type: DType) =>
  ops.fn.node('Reshape', [x, ops.ints(shape)], { T: t(type) });

/** `vector` [C] tiled R times, to apply to the [R, R·C] view of an image. */
const rowOf = (ops: FnOps, vector: Endpoint, r: number, type: DType) =>
  ops.fn.node('Tile', [vector, ops.ints([r])], { T: t(type), Tmultiples: t(I32) });

const gather = (ops: FnOps, params: Endpoint, indices: Endpoint, type: DType) =>
  ops.fn.node('GatherV2', [params, indices, ops.ints([0], [])], { Tparams: t(type), Tindices: t(I32), Taxis: t(I32) });

export function invert(ops: FnOps, image: Endpoint): Endpoint {
  return ops.math('Sub', ops.byte(255), image, U8);
}

/** Keeps the top `bits` bits of every level. */
export function posterize(ops: FnOps, image: Endpoint, bits: number): Endpoint {
  return ops.math('BitwiseAnd', image, ops.byte(0xff & ~((1 << (8 - bits)) - 1)), U8);
}

/** Inverts the levels at or above `threshold` (0–256): x XOR 255 there, a quarter of the cost of a select. */
export function solarize(ops: FnOps, image: Endpoint, threshold: number): Endpoint {
  if (threshold >= 256) return ops.fn.node('Identity', [image], { T: t(U8) });
  const above = ops.cast(ops.math('GreaterEqual', image, ops.byte(threshold), U8), DType.bool, U8);
  return ops.math('BitwiseXor', image, ops.math('Mul', above, ops.byte(255), U8), U8);
}

/**
 * Stretches each channel to span 0–255: ⌊(x − lo) · 255 / (hi − lo)⌋, divided last so the top level lands on 255
 * exactly (PIL multiplies by a rounded scale, which can leave it at 254). A flat channel is kept.
 */
export function autoContrast(ops: FnOps, image: Endpoint, { resolution: r, channels }: ImageShape): Endpoint {
  const hi = ops.cast(ops.reduce('Max', image, [0, 1], U8), U8, F);
  const lo = ops.cast(ops.reduce('Min', image, [0, 1], U8), U8, F);
  const spread = ops.math('Greater', hi, lo);
  const shift = rowOf(ops, ops.select(spread, lo, ops.float(0)), r, F);
  const range = rowOf(ops, ops.select(spread, ops.math('Sub', hi, lo), ops.float(255)), r, F);
  const rows = reshape(ops, ops.cast(image, U8, F), [r, r * channels], F);
  const stretched = ops.math('RealDiv', ops.math('Mul', ops.math('Sub', rows, shift), ops.float(255)), range);
  return reshape(ops, ops.cast(stretched, F, U8), [r, r, channels], U8);
}

/**
 * PIL's histogram equalization per channel: with `step` = (pixels − the count of the channel's top level) // 255,
 * level v maps to (step // 2 + the count of levels below v) // step, capped at 255; a channel with step 0 is kept.
 * The channels' histograms are one HistogramFixedWidth over levels offset by 256 per channel.
 */
export function equalize(ops: FnOps, image: Endpoint, { resolution: r, channels }: ImageShape): Endpoint {
  const { fn } = ops;
  const bins = 256 * channels;
  const offsets = ops.ints(Array.from({ length: r * channels }, (_, k) => 256 * (k % channels)));
  const levels = ops.math('AddV2', reshape(ops, ops.cast(image, U8, I32), [r, r * channels], I32), offsets, I32);
  const counts = fn.node(
    'HistogramFixedWidth',
    [levels, ops.ints([0, bins]), ops.ints([bins], [])],
    { T: t(I32) },
    'out',
  );
  // The offset levels' maxima index each channel's top level in `counts`.
  const top = ops.reduce('Max', reshape(ops, levels, [r * r, channels], I32), [0], I32);
  const column = (x: Endpoint) => reshape(ops, x, [channels, 1], I32);
  const pixels = ops.ints([r * r], []);
  const step = column(
    ops.math('FloorDiv', ops.math('Sub', pixels, gather(ops, counts, top, I32), I32), ops.ints([255], []), I32),
  );
  const below = fn.node(
    'Cumsum',
    [reshape(ops, counts, [channels, 256], I32), ops.ints([1], [])],
    { T: t(I32), exclusive: { b: true } },
    'out',
  );
  const mapped = ops.math(
    'FloorDiv',
    ops.math('AddV2', below, ops.math('FloorDiv', step, ops.ints([2], []), I32), I32),
    ops.math('Maximum', step, ops.ints([1], []), I32),
    I32,
  );
  const lut = ops.select(
    ops.math('Equal', step, ops.ints([0], []), I32),
    ops.ints(Array.from({ length: 256 }, (_, v) => v)),
    ops.math('Minimum', mapped, ops.ints([255], []), I32),
    I32,
  );
  const equalized = gather(ops, reshape(ops, lut, [bins], I32), levels, I32);
  return reshape(ops, ops.cast(equalized, I32, U8), [r, r, channels], U8);
}

/**
 * PIL's `convert('L')`, ⌊(19595 R + 38470 G + 7471 B + 2¹⁵) / 2¹⁶⌋, in `columns` copies: float [R·R, columns]
 * from float pixels [R·R, 3]. A float MatMul is exact here: every product and sum stays below 2²⁴.
 */
function luma(ops: FnOps, pixels: Endpoint, columns: number): Endpoint {
  const weights = ops.floats(
    [19595, 38470, 7471].flatMap((w) => Array<number>(columns).fill(w)),
    [3, columns],
  );
  const weighted = ops.fn.node(
    'MatMul',
    [pixels, weights],
    { T: t(F), transpose_a: { b: false }, transpose_b: { b: false } },
    'product',
  );
  const scaled = ops.math('Mul', ops.math('AddV2', weighted, ops.float(0x8000)), ops.float(2 ** -16));
  return ops.fn.node('Floor', [scaled], { T: t(F) }, 'y');
}

/**
 * PIL's `Image.blend(degenerate, image, factor)`: degenerate + factor · (image − degenerate) in float32, clipped to
 * 0–255 and truncated. `degenerate` is a scalar or of the image's shape.
 */
function blend(ops: FnOps, degenerate: Endpoint, image: Endpoint, factor: Endpoint): Endpoint {
  const mixed = ops.math('AddV2', degenerate, ops.math('Mul', factor, ops.math('Sub', image, degenerate)));
  return ops.cast(ops.fn.node('ClipByValue', [mixed, ops.float(0), ops.float(255)], { T: t(F) }), F, U8);
}

/** ImageEnhance.Color: towards (factor < 1) or away from the image's gray; RGB only. */
export function color(ops: FnOps, image: Endpoint, factor: Endpoint, { resolution: r }: ImageShape): Endpoint {
  const pixels = reshape(ops, ops.cast(image, U8, F), [r * r, 3], F);
  return reshape(ops, blend(ops, luma(ops, pixels, 3), pixels, factor), [r, r, 3], U8);
}

/** ImageEnhance.Contrast: towards or away from the mean gray level, rounded to an integer. */
export function contrast(
  ops: FnOps,
  image: Endpoint,
  factor: Endpoint,
  { resolution: r, channels }: ImageShape,
): Endpoint {
  const pixels = ops.cast(image, U8, F);
  const gray =
    channels === 1 ? ops.cast(image, U8, I32) : ops.cast(luma(ops, reshape(ops, pixels, [r * r, 3], F), 1), F, I32);
  // ⌊sum / n + ½⌋ in int32 arithmetic: exact up to 2048 px (2 · 255 · 2048² < 2³¹).
  const n = r * r;
  const sum = ops.reduce('Sum', gray, channels === 1 ? [0, 1, 2] : [0, 1], I32);
  const twice = ops.math('AddV2', ops.math('Mul', sum, ops.ints([2], []), I32), ops.ints([n], []), I32);
  const mean = ops.math('FloorDiv', twice, ops.ints([2 * n], []), I32);
  return blend(ops, ops.cast(mean, I32, F), pixels, factor);
}

/** ImageEnhance.Brightness: towards or away from black. */
export function brightness(ops: FnOps, image: Endpoint, factor: Endpoint): Endpoint {
  return blend(ops, ops.float(0), ops.cast(image, U8, F), factor);
}

/**
 * ImageEnhance.Sharpness: towards or away from PIL's SMOOTH filter (3×3, centre 5, others 1, over 13, rounded to a
 * level), which leaves the one-pixel border as it is; the blend is computed inside the border only. The filter is
 * sums of shifted slices of the [R, R·C] view (a 3×3 box sum plus 4 × the centre): a depthwise convolution over
 * 3 channels runs 6× slower outside oneDNN, which does not reach the pipeline's functions.
 */
export function sharpness(
  ops: FnOps,
  image: Endpoint,
  factor: Endpoint,
  { resolution: r, channels: c }: ImageShape,
): Endpoint {
  const { fn } = ops;
  const part = (x: Endpoint, type: DType, [y, x0]: number[], [height, width]: number[]) =>
    fn.node('Slice', [x, ops.ints([y, x0]), ops.ints([height, width])], { T: t(type), Index: t(I32) });
  const sum = (parts: Endpoint[]) => fn.node('AddN', parts, { N: { i: parts.length }, T: t(F) }, 'sum');
  const bytes = reshape(ops, image, [r, r * c], U8);
  const rows = ops.cast(bytes, U8, F);
  const across = sum([0, 1, 2].map((k) => part(rows, F, [0, k * c], [r, (r - 2) * c])));
  const box = sum([0, 1, 2].map((k) => part(across, F, [k, 0], [r - 2, (r - 2) * c])));
  const centre = part(rows, F, [1, c], [r - 2, (r - 2) * c]);
  const smooth = ops.math('Mul', sum([box, ...Array<Endpoint>(4).fill(centre)]), ops.float(1 / 13));
  const degenerate = fn.node('Floor', [ops.math('AddV2', smooth, ops.float(0.5))], { T: t(F) }, 'y');
  const join = (parts: Endpoint[], axis: number) =>
    fn.node('ConcatV2', [...parts, ops.ints([axis], [])], { N: { i: parts.length }, T: t(U8), Tidx: t(I32) });
  const inner = blend(ops, degenerate, centre, factor);
  const middle = join([part(bytes, U8, [1, 0], [r - 2, c]), inner, part(bytes, U8, [1, (r - 1) * c], [r - 2, c])], 1);
  const whole = join([part(bytes, U8, [0, 0], [1, r * c]), middle, part(bytes, U8, [r - 1, 0], [1, r * c])], 0);
  return reshape(ops, whole, [r, r, c], U8);
}

/**
 * An affine map, pixel for pixel what ImageProjectiveTransformV3 computes with NEAREST and a constant fill: output
 * pixel (x, y) takes the source pixel nearest to (a0 x + a1 y + a2, b0 x + b1 y + b2), or gray 128 where that
 * falls outside. `matrix` is float [6]: a0, a1, a2, b0, b1, b2. Gathering whole pixels by index costs a third of
 * the op, which maps every channel of every pixel apart.
 */
export function affine(
  ops: FnOps,
  image: Endpoint,
  matrix: Endpoint,
  { resolution: r, channels }: ImageShape,
): Endpoint {
  const { fn } = ops;
  const unpacked = fn.node('Unpack', [matrix], { T: t(F), num: { i: 6 }, axis: { i: 0 } });
  const [a0, a1, a2, b0, b1, b2] = [0, 1, 2, 3, 4, 5].map((k) => unpacked.replace(/:0$/, `:${k}`));
  const ramp = Array.from({ length: r }, (_, i) => i);
  const [xs, ys] = [ops.floats(ramp, [1, r]), ops.floats(ramp, [r, 1])];
  // The nearest source coordinate, as the op's std::round gives it (⌊v + ½⌋ but at −½ itself), clamped to −1…R:
  // every source outside the image lands on a frame of gray one pixel wide around it.
  const source = (x: Endpoint, y: Endpoint, constant: Endpoint) => {
    const v = ops.math('AddV2', ops.math('AddV2', ops.math('Mul', x, xs), ops.math('Mul', y, ys)), constant);
    const nearest = fn.node('Floor', [ops.math('AddV2', v, ops.float(0.5))], { T: t(F) }, 'y');
    return fn.node('ClipByValue', [nearest, ops.float(-1), ops.float(r)], { T: t(F) });
  };
  const side = r + 2;
  const row = ops.math('Mul', source(b0, b1, b2), ops.float(side));
  const index = ops.math('AddV2', ops.math('AddV2', row, source(a0, a1, a2)), ops.float(side + 1));
  const framed = fn.node('PadV2', [image, ops.ints([1, 1, 1, 1, 0, 0], [3, 2]), ops.byte(128)], {
    T: t(U8),
    Tpaddings: t(I32),
  });
  return gather(ops, reshape(ops, framed, [side * side, channels], U8), ops.cast(index, F, I32), U8);
}
