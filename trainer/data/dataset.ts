import type { Architecture } from '../../scaling/architecture.js';
import { isImageFiles, type ImageFilesDataset, type Task } from '../../schemas/task.js';
import { openCifarSplit } from './cifar.js';
import { loadDatasetIndexes } from './dataset-index.js';
import { type SkipReport } from './image-index.js';
import { describeSkipped } from './image-index-build.js';
import { openIdxSplit } from './idx.js';
import { splitCount, type ArraySplit, type FileSplit, type RecordSplit, type Split } from './splits.js';
import { shardCount, type ShardIndex } from './tfrecord-index.js';
import { permutation, seededRandom } from './random.js';
import { DatasetError, subset, type ImageSource } from './source.js';

export interface TaskData {
  train: Split;
  validation: Split;
  /** Class names when the dataset has them (image files), else the label numbers. */
  classNames: string[];
  /** Files of an image dataset that were seen and left out, by reason (empty for arrays). */
  skipped: SkipReport[];
  close(): Promise<void>;
}

const SPLIT_SEED = 0x5eed;
const LIMIT_SEED = 0x11a1;

/** The first `limit` of a seeded permutation: a class-balanced sample even when files are sorted by class. */
function limited(split: Split, limit: number | undefined, seed: number, name: string): Split {
  const count = splitCount(split);
  if (limit === undefined || limit >= count) return split;
  const description = `${split.description} (${name} limit ${limit})`;
  // Records have no addressable positions: a limited pass reads the first `limit` records of its order.
  if (split.kind === 'records') return { ...split, count: limit, description };
  const order = permutation(count, seededRandom(seed, LIMIT_SEED)).slice(0, limit);
  if (split.kind === 'files')
    return { ...split, positions: Int32Array.from(order, (p) => split.positions[p]), description };
  return { kind: 'arrays', source: subset(split.source, order, description), description };
}

/** The second split failed to open: close the first before reporting. */
async function closingOnError(opened: ImageSource, next: Promise<ImageSource>): Promise<ImageSource> {
  try {
    return await next;
  } catch (err) {
    await opened.close();
    throw err;
  }
}

/** Class names of a dataset that has none: the label numbers. */
const numberedClasses = (arch: Architecture) => Array.from({ length: arch.classes }, (_, i) => String(i));

const arrays = (source: ImageSource): ArraySplit => ({ kind: 'arrays', source, description: source.description });

/**
 * Opens the task's dataset as a training and a validation split, validating it before training starts. IDX and
 * CIFAR-10 validate on their test split; image files on `valPath` or a seeded `validationSplit`, from the dataset
 * index (read from `dataset.index` when the plan step built it, so no image file is opened here).
 */
export async function openTaskData(task: Task, arch: Architecture, seed: number): Promise<TaskData> {
  const { dataset } = task;
  let data: Omit<TaskData, 'close'>;
  let close = (): Promise<void> => Promise.resolve();
  if (isImageFiles(dataset)) {
    data = await imageFileSplits(task, dataset, arch, seed);
  } else {
    const cifar = dataset.format === 'cifar10';
    const open = (test: boolean) =>
      cifar
        ? openCifarSplit(dataset.path, test ? 'test' : 'train', arch.classes)
        : openIdxSplit(dataset.path, test ? 't10k' : 'train', arch.classes);
    const train = await open(false);
    const validation = await closingOnError(train, open(true));
    data = {
      train: arrays(train),
      validation: arrays(validation),
      classNames: numberedClasses(arch),
      skipped: [],
    };
    close = async () => {
      await train.close();
      await validation.close();
    };
  }
  return {
    ...data,
    train: limited(data.train, task.trainLimit, seed, 'train'),
    validation: limited(data.validation, task.valLimit, seed + 1, 'validation'),
    close,
  };
}

async function imageFileSplits(
  task: Task,
  dataset: ImageFilesDataset,
  arch: Architecture,
  seed: number,
): Promise<Omit<TaskData, 'close'>> {
  const indexes = await loadDatasetIndexes(dataset);
  if (indexes.kind === 'records') {
    const records = (shards: ShardIndex, description: string): RecordSplit => ({
      kind: 'records',
      shards,
      count: shardCount(shards),
      description,
    });
    return {
      train: records(indexes.train, dataset.path),
      validation: records(indexes.validation, dataset.valPath ?? ''),
      // Records carry class numbers only.
      classNames: numberedClasses(arch),
      skipped: [],
    };
  }
  const { train: index, validation: valIndex } = indexes;
  const classNames = [...index.classNames];
  if (classNames.length !== arch.classes) {
    throw new DatasetError(
      `${dataset.path} has ${classNames.length} ${dataset.format === 'image-folder' ? 'class folders' : 'classes'} ` +
        `(${classNames.join(', ') || 'none'}) but architecture.classes is ${arch.classes}`,
    );
  }
  const all = (i: typeof index, description: string): FileSplit => ({
    kind: 'files',
    index: i,
    positions: Int32Array.from({ length: i.count }, (_, k) => k),
    description,
  });
  const skipped = [index.skipped, ...(valIndex ? [valIndex.skipped] : [])];
  if (valIndex) {
    return { train: all(index, dataset.path), validation: all(valIndex, dataset.valPath ?? ''), classNames, skipped };
  }
  const order = permutation(index.count, seededRandom(seed, SPLIT_SEED));
  const valCount = Math.max(1, Math.round(index.count * task.validationSplit));
  if (valCount >= index.count) {
    throw new DatasetError(`${dataset.path}: ${index.count} images are too few for a validation split`);
  }
  const part = (positions: number[], name: string): FileSplit => ({
    kind: 'files',
    index,
    positions: Int32Array.from(positions),
    description: `${dataset.path} (${name} split)`,
  });
  return {
    train: part(order.slice(valCount), 'training'),
    validation: part(order.slice(0, valCount), 'validation'),
    classNames,
    skipped,
  };
}

/** "n files skipped (reasons)" lines for the log, one per index that skipped any. */
export function skippedLines(data: TaskData): string[] {
  return data.skipped.filter((s) => s.total > 0).map((s) => describeSkipped(s));
}
