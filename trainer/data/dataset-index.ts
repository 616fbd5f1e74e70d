import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Dataset } from '../../spec/task.js';
import { indexImageFolder, indexManifest, readImageIndex, writeImageIndex, type ImageIndex } from './image-index.js';

type ImageFilesDataset = Extract<Dataset, { format: 'image-folder' | 'manifest' }>;

/** The indexes of an image-file dataset: its training files, and its validation files when it has its own. */
export interface DatasetIndexes {
  train: ImageIndex;
  validation?: ImageIndex;
}

const TRAIN_FILE = 'train.index';
const VALIDATION_FILE = 'validation.index';

/**
 * The folder, under `root`, that holds a dataset's index: named by what identifies the dataset (format, paths,
 * how bad files are treated), so a changed spec never reads another dataset's index.
 */
export function datasetIndexDir(root: string, dataset: ImageFilesDataset): string {
  const { index: _index, ...identity } = dataset;
  const key = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16);
  return join(root, `${dataset.format}-${key}`);
}

/** Walks the dataset's folders or manifests once, checking every file's signature. */
export async function buildDatasetIndexes(dataset: ImageFilesDataset): Promise<DatasetIndexes> {
  const { skipCorrupt } = dataset;
  if (dataset.format === 'image-folder') {
    const train = await indexImageFolder(dataset.path, { skipCorrupt });
    if (!dataset.valPath) return { train };
    return {
      train,
      validation: await indexImageFolder(dataset.valPath, { skipCorrupt, classNames: train.classNames }),
    };
  }
  const train = await indexManifest(dataset.path, { skipCorrupt, ...(dataset.root && { root: dataset.root }) });
  if (!dataset.valPath) return { train };
  const validation = await indexManifest(dataset.valPath, {
    skipCorrupt,
    classNames: train.classNames,
    ...(dataset.valRoot && { root: dataset.valRoot }),
  });
  return { train, validation };
}

export async function writeDatasetIndexes(indexes: DatasetIndexes, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeImageIndex(indexes.train, join(dir, TRAIN_FILE));
  if (indexes.validation) await writeImageIndex(indexes.validation, join(dir, VALIDATION_FILE));
}

/**
 * The index the plan step wrote (`dataset.index`), read without opening an image; else built here. Its paths
 * resolve against the dataset's folders as this process names them, which a pod's mounts may change.
 */
export async function loadDatasetIndexes(dataset: ImageFilesDataset): Promise<DatasetIndexes> {
  if (!dataset.index) return buildDatasetIndexes(dataset);
  const roots = dataRoots(dataset);
  const train = await readImageIndex(join(dataset.index, TRAIN_FILE), roots.train);
  if (!dataset.valPath) return { train };
  return { train, validation: await readImageIndex(join(dataset.index, VALIDATION_FILE), roots.validation) };
}

/** The folders a dataset's relative paths hang from: the image folders, or the manifests' roots. */
function dataRoots(dataset: ImageFilesDataset): { train: string; validation?: string } {
  if (dataset.format === 'image-folder')
    return { train: resolve(dataset.path), validation: dataset.valPath && resolve(dataset.valPath) };
  const rootOf = (manifest: string, root: string | undefined) => resolve(root ?? dirname(manifest));
  return {
    train: rootOf(dataset.path, dataset.root),
    validation: dataset.valPath && rootOf(dataset.valPath, dataset.valRoot),
  };
}
