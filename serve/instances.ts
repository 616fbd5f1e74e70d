import { z } from 'zod';
import { SERVING_SIGNATURE } from '../trainer/graph/serving.js';
import type { Tf } from '../trainer/tf.js';
import { imageHeader, type ImageHeader } from './image-header.js';
import { arraySource, writeImage, type ImageSource, type Preparer } from './pixels.js';

/**
 * The TF Serving REST request body, row format: `{"instances": [...]}`. Each instance is an image — base64 PNG or
 * JPEG as `{"b64": "..."}`, or pixel intensities (0–255, like the image files and the IDX datasets) as a nested
 * array H×W (grayscale) or H×W×C — is checked and sized when the request arrives, and decoded only when its batch runs, straight into its slot of the
 * batch (serve/pixels.ts).
 */

/** A 400 answer: `message` names the instance and what was expected. */
export class BadRequestError extends Error {
  override name = 'BadRequestError';
}

export interface InstanceLimits {
  maxInstances: number;
  /** Largest accepted image side, in pixels: bigger inputs are refused before any decoding work. */
  maxSide: number;
  /** Pixel values (height × width × channels) one request may decode, summed over its instances. */
  maxRequestPixels: number;
}

export const PredictRequest = z
  .object({
    signature_name: z.string().optional(),
    instances: z.array(z.unknown()).min(1, 'give at least one instance'),
  })
  .strict();
export type PredictRequest = z.infer<typeof PredictRequest>;

const B64Instance = z.object({ b64: z.string().min(1) }).strict();

const EXPECTED = 'expected {"b64": "<base64 PNG or JPEG>"} or a nested array of pixel values (H×W or H×W×C, 0–255)';

export function parsePredictRequest(body: unknown, limits: InstanceLimits): PredictRequest {
  const parsed = PredictRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length ? issue.path.join('.') : 'body';
    throw new BadRequestError(`${where}: ${issue?.message ?? 'invalid'}; expected {"instances": [...]}`);
  }
  const signature = parsed.data.signature_name;
  if (signature !== undefined && signature !== SERVING_SIGNATURE)
    throw new BadRequestError(`signature_name: '${signature}', this model has only serving_default`);
  if (parsed.data.instances.length > limits.maxInstances)
    throw new BadRequestError(
      `instances: ${parsed.data.instances.length} instances, at most ${limits.maxInstances} per request`,
    );
  return parsed.data;
}

/**
 * An instance checked and sized, not decoded yet: the request's pixel budget is checked over all of them first,
 * and the decoding happens when its batch runs (work for a request that was dropped is never done).
 */
export interface Instance {
  /** `instances[i]`: how errors name it. */
  where: string;
  /** Pixel values it decodes to (height × width × channels, as sent). */
  pixels: number;
  /** Decodes into `target` at `offset` as the network's input; throws BadRequestError naming the instance. */
  write(target: Float32Array, offset: number, prep: Preparer): void;
}

/** The header says the size: an image over the limits is refused before a byte of it is decoded. */
function measureB64(tf: Tf, b64: string, where: string, limits: InstanceLimits): Instance {
  const bytes = Buffer.from(b64, 'base64');
  const header = imageHeader(bytes);
  if (!header) throw new BadRequestError(`${where}.b64: not a base64 PNG or JPEG image (or its header is cut short)`);
  const { height: h, width: w, channels } = header;
  if (h === 0 || w === 0) throw new BadRequestError(`${where}.b64: its header says ${h}×${w} pixels`);
  if (h > limits.maxSide || w > limits.maxSide)
    throw new BadRequestError(`${where}.b64: ${h}×${w} image, at most ${limits.maxSide} pixels per side`);
  return {
    where,
    pixels: h * w * channels,
    write: (target, offset, prep) => writeImage(decodeB64(tf, bytes, where, header), target, offset, prep),
  };
}

function decodeB64(tf: Tf, bytes: Buffer, where: string, header: ImageHeader): ImageSource {
  let image: import('@tensorflow/tfjs-node').Tensor3D;
  try {
    image = tf.node.decodeImage(bytes, 0, 'int32', false) as import('@tensorflow/tfjs-node').Tensor3D;
  } catch (error) {
    throw new BadRequestError(`${where}.b64: the image does not decode (${(error as Error).message.split('\n')[0]})`);
  }
  try {
    const [h, w, c] = image.shape;
    if (h !== header.height || w !== header.width)
      throw new BadRequestError(`${where}.b64: decoded to ${h}×${w}, its header said ${header.height}×${header.width}`);
    return arraySource(image.dataSync(), h, w, c);
  } finally {
    image.dispose();
  }
}

/** Checks a nested array is a rectangular H×W or H×W×C block of numbers 0–255, and returns its shape. */
function arrayShape(value: unknown[], where: string, limits: InstanceLimits): [number, number, number] {
  const h = value.length;
  const first = value[0];
  if (!Array.isArray(first) || first.length === 0) throw new BadRequestError(`${where}: ${EXPECTED}`);
  const w = first.length;
  const depth = Array.isArray(first[0]) ? (first[0] as unknown[]).length : 0;
  if (h > limits.maxSide || w > limits.maxSide)
    throw new BadRequestError(`${where}: ${h}×${w} array, at most ${limits.maxSide} pixels per side`);
  if (depth !== 0 && depth !== 1 && depth !== 3 && depth !== 4)
    throw new BadRequestError(`${where}[0][0]: ${depth} channels; expected 1, 3 or 4`);
  value.forEach((row, y) => {
    if (!Array.isArray(row) || row.length !== w)
      throw new BadRequestError(`${where}[${y}]: expected a row of ${w} pixels (every row the same length)`);
    row.forEach((px: unknown, x) => {
      const values = depth === 0 ? [px] : px;
      if (!Array.isArray(values) || values.length !== (depth || 1))
        throw new BadRequestError(`${where}[${y}][${x}]: expected ${depth ? `${depth} channel values` : 'a number'}`);
      for (const v of values)
        if (typeof v !== 'number' || !(v >= 0 && v <= 255))
          throw new BadRequestError(`${where}[${y}][${x}]: expected a pixel value 0–255, got ${describe(v)}`);
    });
  });
  return [h, w, depth || 1];
}

/** A value in an error message: short, and never a deep structure serialized whole. */
function describe(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v);
  return Array.isArray(v) ? 'an array' : `a${typeof v === 'object' ? 'n object' : ` ${typeof v}`}`;
}

/** Checks instance `index` and says what it decodes to; throws BadRequestError naming the instance. */
export function measureInstance(tf: Tf, value: unknown, index: number, limits: InstanceLimits): Instance {
  const where = `instances[${index}]`;
  if (Array.isArray(value)) {
    const [height, width, channels] = arrayShape(value, where, limits);
    const rows = value as number[][] | number[][][];
    // Checked by arrayShape: every row is an array of `width` numbers or of `channels`-value arrays.
    const at =
      channels === 1 && !Array.isArray(rows[0]?.[0])
        ? (y: number, x: number) => (rows as number[][])[y]?.[x] as number
        : (y: number, x: number, k: number) => (rows as number[][][])[y]?.[x]?.[k] as number;
    const source: ImageSource = { height, width, channels, at };
    return {
      where,
      pixels: height * width * channels,
      write: (target, offset, prep) => writeImage(source, target, offset, prep),
    };
  }
  const b64 = B64Instance.safeParse(value);
  if (b64.success) return measureB64(tf, b64.data.b64, where, limits);
  throw new BadRequestError(`${where}: ${EXPECTED}`);
}

/** Every instance of a request, measured; refused as a whole when it would decode more than its budget. */
export function measureRequest(tf: Tf, instances: readonly unknown[], limits: InstanceLimits): Instance[] {
  const measured = instances.map((value, i) => measureInstance(tf, value, i, limits));
  checkRequestPixels(measured, limits);
  return measured;
}

export function checkRequestPixels(instances: readonly Instance[], limits: InstanceLimits): void {
  const pixels = instances.reduce((sum, m) => sum + m.pixels, 0);
  if (pixels > limits.maxRequestPixels)
    throw new BadRequestError(
      `instances: ${pixels} pixel values (height × width × channels) in all, at most ${limits.maxRequestPixels} ` +
        'per request: send fewer or smaller images',
    );
}
