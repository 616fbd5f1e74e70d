import type { Architecture } from '../scaling/architecture.js';
import type { Tf } from './tf.js';

type Tensor3D = import('@tensorflow/tfjs-node').Tensor3D;
type Tensor4D = import('@tensorflow/tfjs-node').Tensor4D;

/**
 * What preprocessing needs to know about the network: its input side and channels, and — for a model trained on
 * image files — the evaluation center crop its validation saw (`cropPct` of the short side, half-pixel resize).
 */
export type InputShape = Pick<Architecture, 'resolution' | 'inputChannels'> & { cropPct?: number };

const LUMA = [0.299, 0.587, 0.114];

/**
 * Turns images with 0–255 values (H×W×C or N×H×W×C; 1, 3 or 4 channels) into the network input: bilinear resize to
 * the architecture's resolution (after the center crop of `cropPct`, when given), channels adapted (grayscale
 * repeated to RGB, RGB to luma, alpha dropped) and values scaled to [-1, 1]. Training and serving both call this, so a prediction request sees exactly what training saw.
 */
export function preprocessImages(tf: Tf, images: Tensor3D | Tensor4D, input: InputShape): Tensor4D {
  return tf.tidy(() => {
    let x = (images.rank === 3 ? tf.expandDims(images, 0) : images).toFloat() as Tensor4D;
    const channels = x.shape[3];
    if (channels === 4) x = tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, 3]);
    const have = x.shape[3];
    if (have !== 1 && have !== 3) throw new Error(`images must have 1, 3 or 4 channels, got ${channels}`);
    if (have === 1 && input.inputChannels === 3) x = tf.tile(x, [1, 1, 1, 3]);
    else if (have === 3 && input.inputChannels === 1) x = tf.sum(tf.mul(x, tf.tensor1d(LUMA)), -1, true);
    else if (have !== input.inputChannels) {
      throw new Error(`cannot adapt ${have}-channel images to a ${input.inputChannels}-channel network`);
    }
    if (input.cropPct !== undefined) {
      x = centerCrop(tf, x, input.cropPct);
      x = tf.image.resizeBilinear(x, [input.resolution, input.resolution], false, true);
    } else if (x.shape[1] !== input.resolution || x.shape[2] !== input.resolution) {
      x = tf.image.resizeBilinear(x, [input.resolution, input.resolution]);
    }
    return tf.sub(tf.div(x, 127.5), 1);
  });
}

/** The input pipeline's evaluation crop (trainer/data/pipeline-graph.ts): a centered square of the short side. */
function centerCrop(tf: Tf, x: Tensor4D, fraction: number): Tensor4D {
  const [, h, w] = x.shape;
  const side = Math.max(1, Math.floor(Math.min(h, w) * fraction));
  return tf.slice(x, [0, Math.floor((h - side + 1) / 2), Math.floor((w - side + 1) / 2), 0], [-1, side, side, -1]);
}
