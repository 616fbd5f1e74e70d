import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getPreset } from '../../../scaling/presets.js';
import { Task } from '../../../spec/task.js';
import { openIdxSplit } from '../../../trainer/data/idx.js';
import type { RawImage } from '../../../trainer/data/source.js';
import { buildModel } from '../../../trainer/model.js';
import { loadNativeTf, type Tf } from '../../../trainer/tf.js';
import { classLabels } from '../../../serve/labels.js';
import { loadModelDir, servedModel } from '../../../serve/load.js';
import type { ServedModel } from '../../../serve/model.js';

export const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

/** A micro-28 model built by the trainer, saved in tfjs format and loaded back the way the server loads it. */
export async function savedMicro28(tf: Tf = loadNativeTf()): Promise<{ dir: string; served: ServedModel }> {
  const architecture = getPreset('micro-28');
  const dir = await mkdtemp(join(tmpdir(), 'effscale-serve-'));
  const built = buildModel(architecture, tf);
  await built.save(`file://${dir}`);
  built.dispose();
  const model = await loadModelDir(tf, dir);
  const task = Task.parse({ dataset: { format: 'fashion-mnist', path: FASHION_MNIST } });
  const served = servedModel({
    name: 'micro',
    version: '1',
    model,
    architecture,
    labels: classLabels(architecture.classes, task, undefined),
    metadata: { architecture: { name: architecture.name, resolution: architecture.resolution } },
  });
  return { dir, served };
}

/** Real Fashion-MNIST test images (28×28×1 bytes). */
export async function fashionImages(count: number): Promise<RawImage[]> {
  const source = await openIdxSplit(FASHION_MNIST, 't10k', 10);
  try {
    return await source.read(Array.from({ length: count }, (_, i) => i));
  } finally {
    await source.close();
  }
}

export async function pngBase64(tf: Tf, image: RawImage): Promise<string> {
  const tensor = tf.tensor3d(image.pixels, [image.height, image.width, image.channels], 'int32');
  try {
    return Buffer.from(await tf.node.encodePng(tensor)).toString('base64');
  } finally {
    tensor.dispose();
  }
}

export function nestedArray(image: RawImage): number[][] {
  return Array.from({ length: image.height }, (_, y) =>
    Array.from(image.pixels.subarray(y * image.width, (y + 1) * image.width)),
  );
}
