import type { InputShape } from '../trainer/preprocess.js';

/**
 * An image to be written into a batch: `height` × `width` × `channels` values 0–255, read through `at` so a
 * decoded tensor's array, a JSON nested array and a slice of a gRPC tensor are all read in place, never copied
 * into an intermediate image first.
 */
export interface ImageSource {
  height: number;
  width: number;
  /** 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA. */
  channels: number;
  at(y: number, x: number, k: number): number;
}

/** What writing an image needs from the served model: its input, and the graph's resize for other sizes. */
export interface Preparer {
  input: InputShape;
  resize(image: Float32Array, height: number, width: number): Float32Array;
}

/** Source values of a typed array laid out H×W×C, as decoders and tensors give them. */
export function arraySource(
  values: ArrayLike<number>,
  height: number,
  width: number,
  channels: number,
  start = 0,
): ImageSource {
  return { height, width, channels, at: (y, x, k) => values[start + (y * width + x) * channels + k] as number };
}

/** The luma weights `preprocessImages` (trainer/preprocess.ts) turns RGB into gray with. */
const LUMA = [0.299, 0.587, 0.114].map(Math.fround) as [number, number, number];

/**
 * Writes `image` at `offset` of a batch as the network's input — R × R × C raw values — exactly as the trainer's
 * `preprocessImages` prepares it: alpha dropped, gray repeated to RGB or RGB turned to luma; then the serving
 * graph's own preprocessing (the evaluation center crop of a model trained on image files, a bilinear resize) when
 * the model takes anything but the image as it is. The [−1, 1] scaling is the graph's.
 */
export function writeImage(image: ImageSource, target: Float32Array, offset: number, prep: Preparer): void {
  const { resolution: r, inputChannels: want, cropPct } = prep.input;
  const { height, width } = image;
  const direct = cropPct === undefined && height === r && width === r;
  const out = direct ? target : new Float32Array(height * width * want);
  let at = direct ? offset : 0;
  const color = image.channels >= 3;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (want === 1 && color) {
        // float32 products summed in float32, as tf.sum(tf.mul(x, LUMA)) computes it.
        const luma = Math.fround(Math.fround(image.at(y, x, 0) * LUMA[0]) + Math.fround(image.at(y, x, 1) * LUMA[1]));
        out[at++] = Math.fround(luma + Math.fround(image.at(y, x, 2) * LUMA[2]));
      } else if (want === 1 || !color) {
        const gray = image.at(y, x, 0);
        for (let k = 0; k < want; k++) out[at++] = gray;
      } else {
        for (let k = 0; k < 3; k++) out[at++] = image.at(y, x, k);
      }
    }
  }
  if (!direct) target.set(prep.resize(out, height, width), offset);
}
