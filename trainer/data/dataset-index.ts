import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { ImageFilesDataset } from '../../schemas/task.js';
import { indexImageFolder, indexManifest, readImageIndex, writeImageIndex, type ImageIndex } from './image-index.js';
import { indexShards, readShardIndex, writeShardIndex, type ShardIndex } from './tfrecord-index.js';

type FilesDataset = Extract<ImageFilesDataset, { format: 'image-folder' | 'manifest' }>;
type RecordsDataset = Extract<ImageFilesDataset, { format: 'tfrecord' }>;

/**
 * The indexes of an image dataset: its training files and, when it has its own, its validation files; or, for
 * TFRecord shards, the records each shard holds.
 */
export type DatasetIndexes =
  | { kind: 'files'; train: ImageIndex; validation?: ImageIndex }
  | { kind: 'records'; train: ShardIndex; validation: ShardIndex };

const FILES = { train: 'train.index', validation: 'validation.index' };
const SHARDS = { train: 'train.shards.json', validation: 'validation.shards.json' };

/**
 * The folder, under `root`, that holds a dataset's index: named by what identifies the dataset (format, paths,
 * how bad files are treated), so a changed spec never reads another dataset's index.
 */
export function datasetIndexDir(root: string, dataset: ImageFilesDataset): string {
  const { index: _index, ...identity } = dataset;
  const key = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16);
  return join(root, `${dataset.format}-${key}`);
}

/** Walks the dataset's folders or manifests once, checking every file's signature; or counts the shards' records. */
export async function buildDatasetIndexes(dataset: ImageFilesDataset): Promise<DatasetIndexes> {
  if (dataset.format === 'tfrecord') {
    return { kind: 'records', train: await indexShards(dataset.path), validation: await indexShards(dataset.valPath) };
  }
  const { skipCorrupt } = dataset;
  if (dataset.format === 'image-folder') {
    const train = await indexImageFolder(dataset.path, { skipCorrupt });
    if (!dataset.valPath) return { kind: 'files', train };
    const validation = await indexImageFolder(dataset.valPath, { skipCorrupt, classNames: train.classNames });
    return { kind: 'files', train, validation };
  }
  const train = await indexManifest(dataset.path, { skipCorrupt, ...(dataset.root && { root: dataset.root }) });
  if (!dataset.valPath) return { kind: 'files', train };
  const validation = await indexManifest(dataset.valPath, {
    skipCorrupt,
    classNames: train.classNames,
    ...(dataset.valRoot && { root: dataset.valRoot }),
  });
  return { kind: 'files', train, validation };
}

export async function writeDatasetIndexes(indexes: DatasetIndexes, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (indexes.kind === 'records') {
    await writeShardIndex(indexes.train, join(dir, SHARDS.train));
    await writeShardIndex(indexes.validation, join(dir, SHARDS.validation));
    return;
  }
  await writeImageIndex(indexes.train, join(dir, FILES.train));
  if (indexes.validation) await writeImageIndex(indexes.validation, join(dir, FILES.validation));
}

/**
 * The index the plan step wrote (`dataset.index`), read without opening an image; else built here. Its paths
 * resolve against the dataset's folders as this process names them, which a pod's mounts may change.
 */
export async function loadDatasetIndexes(dataset: ImageFilesDataset): Promise<DatasetIndexes> {
  const dir = dataset.index;
  if (!dir) return buildDatasetIndexes(dataset);
  if (dataset.format === 'tfrecord') return loadShardIndexes(dataset, dir);
  const roots = dataRoots(dataset);
  const train = await readImageIndex(join(dir, FILES.train), roots.train);
  if (!dataset.valPath) return { kind: 'files', train };
  return { kind: 'files', train, validation: await readImageIndex(join(dir, FILES.validation), roots.validation) };
}

async function loadShardIndexes(dataset: RecordsDataset, dir: string): Promise<DatasetIndexes> {
  return {
    kind: 'records',
    train: await readShardIndex(join(dir, SHARDS.train), dataset.path),
    validation: await readShardIndex(join(dir, SHARDS.validation), dataset.valPath),
  };
}

/** The folders a dataset's relative paths hang from: the image folders, or the manifests' roots. */
function dataRoots(dataset: FilesDataset): { train: string; validation?: string } {
  if (dataset.format === 'image-folder')
    return { train: resolve(dataset.path), validation: dataset.valPath && resolve(dataset.valPath) };
  const rootOf = (manifest: string, root: string | undefined) => resolve(root ?? dirname(manifest));
  return {
    train: rootOf(dataset.path, dataset.root),
    validation: dataset.valPath && rootOf(dataset.valPath, dataset.valRoot),
  };
}
