import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from '../../../registry/registry.js';
import { architectureCost } from '../../../scaling/cost.js';
import { getPreset } from '../../../scaling/presets.js';
import { loadModelDir, loadRegisteredModel } from '../../../serve/load.js';
import type { ServedModel } from '../../../serve/model.js';
import { openIdxSplit } from '../../../trainer/data/idx.js';
import type { RawImage } from '../../../trainer/data/source.js';
import { buildModel } from '../../../trainer/model.js';
import { loadNativeTf, type Tf } from '../../../trainer/tf.js';

export const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

/**
 * A micro-28 model built by the trainer, saved in tfjs format, registered in a real filesystem registry with its
 * architecture data and lineage, and loaded back exactly the way `effscale serve` loads it.
 */
export async function registeredMicro28(tf: Tf = loadNativeTf()): Promise<{ root: string; served: ServedModel }> {
  const root = await mkdtemp(join(tmpdir(), 'effscale-registry-'));
  await registerMicro28(tf, root);
  const served = await loadRegisteredModel(tf, new Registry(join(root, 'registry')), 'micro');
  return { root, served };
}

/** The registered model as tfjs-layers loads it: the reference the serving graph's predictions are checked against. */
export async function reference(tf: Tf, root: string): Promise<import('@tensorflow/tfjs-node').LayersModel> {
  return loadModelDir(tf, join(root, 'registry', 'micro', 'v1', 'model'));
}

/** Registers an untrained micro-28 as model `micro` in `<root>/registry` (serving tests and the serve bench). */
export async function registerMicro28(tf: Tf, root: string): Promise<void> {
  const architecture = getPreset('micro-28');
  const modelDir = join(root, 'trained');
  const built = buildModel(architecture, tf);
  // What the trainer saves with every model (trainer/train.ts): serving builds its graph from the architecture.
  built.setUserDefinedMetadata({ effscale: { architecture, resolution: architecture.resolution } });
  await built.save(`file://${modelDir}`);
  built.dispose();
  const factors = { depth: 1, width: 1, resolution: 1 };
  await new Registry(join(root, 'registry')).register({
    name: 'micro',
    modelDir,
    architecture: {
      phi: 0,
      factors,
      coefficients: { alpha: 1, beta: 1, gamma: 1 },
      rule: 'exponential',
      cost: architectureCost(architecture),
    },
    metrics: { score: 0.5, metric: 'accuracy' },
    lineage: {
      searchId: 'effscale-serve-test',
      specHash: '0',
      alpha: 1,
      beta: 1,
      gamma: 1,
      phi: 0,
      factors,
      dataset: { format: 'fashion-mnist', path: FASHION_MNIST },
      rule: 'exponential',
      member: 'phi0',
      registeredAt: new Date().toISOString(),
    },
  });
  await rm(modelDir, { recursive: true });
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
