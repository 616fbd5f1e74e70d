import { z } from 'zod';
import type { Tf } from '../trainer/tf.js';

type Tensor3D = import('@tensorflow/tfjs-node').Tensor3D;

/**
 * The TF Serving REST request body, row format: `{"instances": [...]}`. Each instance is an image — base64 PNG or
 * JPEG as `{"b64": "..."}`, or pixel intensities (0–255, like the image files and the IDX datasets) as a nested
 * array H×W (grayscale) or H×W×C — and becomes an H×W×C float tensor of raw pixels for the trainer's
 * preprocessing.
 */

/** A 400 answer: `message` names the instance and what was expected. */
export class BadRequestError extends Error {
  override name = 'BadRequestError';
}

export interface InstanceLimits {
  maxInstances: number;
  /** Largest accepted image side, in pixels: bigger inputs are refused before any decoding work. */
  maxSide: number;
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
  if (parsed.data.instances.length > limits.maxInstances)
    throw new BadRequestError(
      `instances: ${parsed.data.instances.length} instances, at most ${limits.maxInstances} per request`,
    );
  return parsed.data;
}

function isPngOrJpeg(bytes: Buffer): boolean {
  const png = bytes.length > 8 && bytes.readUInt32BE(0) === 0x89504e47;
  const jpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  return png || jpeg;
}

function decodeB64(tf: Tf, b64: string, where: string, limits: InstanceLimits): Tensor3D {
  const bytes = Buffer.from(b64, 'base64');
  if (!isPngOrJpeg(bytes)) throw new BadRequestError(`${where}.b64: not a base64 PNG or JPEG image`);
  let image: Tensor3D;
  try {
    image = tf.node.decodeImage(bytes, 0, 'int32', false) as Tensor3D;
  } catch (error) {
    throw new BadRequestError(`${where}.b64: the image does not decode (${(error as Error).message.split('\n')[0]})`);
  }
  const [h, w] = image.shape;
  if (h > limits.maxSide || w > limits.maxSide) {
    image.dispose();
    throw new BadRequestError(`${where}.b64: ${h}×${w} image, at most ${limits.maxSide} pixels per side`);
  }
  // A gray+alpha PNG decodes to 2 channels; the alpha plane carries no class information.
  const pixels = tf.tidy(() => (image.shape[2] === 2 ? tf.slice(image, [0, 0, 0], [-1, -1, 1]) : image).toFloat());
  image.dispose();
  return pixels;
}

/** Checks a nested array is a rectangular H×W or H×W×C block of finite numbers, and returns its shape. */
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
          throw new BadRequestError(`${where}[${y}][${x}]: expected a pixel value 0–255, got ${JSON.stringify(v)}`);
    });
  });
  return [h, w, depth || 1];
}

/** Decodes instance `index` to raw pixels (H×W×C float32, 0–255); throws BadRequestError naming the instance. */
export function decodeInstance(tf: Tf, value: unknown, index: number, limits: InstanceLimits): Tensor3D {
  const where = `instances[${index}]`;
  if (Array.isArray(value)) {
    const shape = arrayShape(value, where, limits);
    return tf.tensor3d((value as unknown[]).flat(2) as number[], shape, 'float32');
  }
  const b64 = B64Instance.safeParse(value);
  if (b64.success) return decodeB64(tf, b64.data.b64, where, limits);
  throw new BadRequestError(`${where}: ${EXPECTED}`);
}
