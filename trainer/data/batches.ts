import type { Task } from '../../schemas/task.js';
import { preprocessImages, type InputShape } from '../preprocess.js';
import type { Tf } from '../tf.js';
import { permutation, seededRandom } from './random.js';
import type { ImageSource, RawImage } from './source.js';

type Tensor = import('@tensorflow/tfjs-node').Tensor;

/**
 * A batch as an engine takes it: `normalized` is the network's float input in [-1, 1] with one-hot labels `ys` and
 * the class ids in `labels`; `raw` is uint8 pixels with int32 class ids in `ys`, straight from the input pipeline,
 * which the graph engine normalizes inside its graph.
 */
export type Batch =
  | { form: 'normalized'; xs: Tensor; ys: Tensor; labels: Int32Array; size: number }
  | { form: 'raw'; xs: Tensor; ys: Tensor; size: number };

export interface BatchOptions {
  batchSize: number;
  classes: number;
  input: InputShape;
  /** Shuffle with this (seed, epoch) pair; validation passes no order and reads in file order. */
  shuffle?: { seed: number; epoch: number };
  augment?: Task['augment'];
  /** Skip the first batches (a resumed epoch). */
  startBatch?: number;
}

/** Light augmentation on the source pixels: a horizontal flip and a shift of up to `crop` pixels (zero padded). */
function augmentImage(image: RawImage, augment: Task['augment'], random: () => number): RawImage {
  const flip = augment.flip && random() < 0.5;
  const dx = augment.crop > 0 ? Math.floor(random() * (2 * augment.crop + 1)) - augment.crop : 0;
  const dy = augment.crop > 0 ? Math.floor(random() * (2 * augment.crop + 1)) - augment.crop : 0;
  if (!flip && dx === 0 && dy === 0) return image;
  const { height, width, channels, pixels } = image;
  const out = new Uint8Array(pixels.length);
  for (let y = 0; y < height; y++) {
    const sy = y + dy;
    if (sy < 0 || sy >= height) continue;
    for (let x = 0; x < width; x++) {
      const sx = (flip ? width - 1 - x : x) + dx;
      if (sx < 0 || sx >= width) continue;
      for (let c = 0; c < channels; c++) out[(y * width + x) * channels + c] = pixels[(sy * width + sx) * channels + c];
    }
  }
  return { ...image, pixels: out };
}

function toTensor(tf: Tf, images: RawImage[], input: InputShape): Tensor {
  const [first] = images;
  const sameShape = images.every(
    (i) => i.height === first.height && i.width === first.width && i.channels === first.channels,
  );
  if (sameShape) {
    const { height, width, channels } = first;
    const data = new Float32Array(images.length * height * width * channels);
    images.forEach((img, k) => data.set(img.pixels, k * img.pixels.length));
    const stacked = tf.tensor4d(data, [images.length, height, width, channels]);
    const out = preprocessImages(tf, stacked, input);
    stacked.dispose();
    return out;
  }
  return tf.tidy(() =>
    tf.concat(
      images.map((img) =>
        preprocessImages(tf, tf.tensor3d(Float32Array.from(img.pixels), [img.height, img.width, img.channels]), input),
      ),
    ),
  );
}

export function batchCount(source: { count: number }, batchSize: number): number {
  return Math.ceil(source.count / batchSize);
}

/**
 * Streams batches of a source: only one batch of raw pixels and one of tensors is alive at a time, so memory does
 * not depend on the dataset size. The order and the augmentation replay exactly from (seed, epoch).
 */
export async function* batches(tf: Tf, source: ImageSource, options: BatchOptions): AsyncGenerator<Batch> {
  const { batchSize, shuffle, augment } = options;
  const order = shuffle
    ? permutation(source.count, seededRandom(shuffle.seed, shuffle.epoch))
    : Array.from({ length: source.count }, (_, i) => i);
  const random = seededRandom(shuffle?.seed ?? 0, shuffle?.epoch ?? 0, 0xa06);
  const total = batchCount(source, batchSize);
  for (let b = 0; b < total; b++) {
    const indices = order.slice(b * batchSize, (b + 1) * batchSize);
    // Augmentation draws are made for skipped batches too, so a resumed epoch sees the same images.
    let images = b < (options.startBatch ?? 0) ? undefined : await source.read(indices);
    if (augment && (augment.flip || augment.crop > 0)) {
      const draws = indices.map(() => [random(), random(), random()] as const);
      if (images) {
        images = images.map((img, k) => {
          const d = draws[k];
          let n = 0;
          return augmentImage(img, augment, () => d[n++]);
        });
      }
    }
    if (!images) continue;
    const labels = Int32Array.from(images, (img) => img.label);
    const xs = toTensor(tf, images, options.input);
    const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), options.classes).toFloat());
    yield { form: 'normalized', xs, ys, labels, size: images.length };
  }
}
