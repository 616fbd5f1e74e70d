import type { Architecture } from '../../scaling/architecture.js';
import type { Task } from '../../spec/task.js';
import type { Tf } from '../tf.js';
import { openCifarSplit } from './cifar.js';
import { listClasses, openImageFolder } from './image-folder.js';
import { openIdxSplit } from './idx.js';
import { permutation, seededRandom } from './random.js';
import { DatasetError, subset, type ImageSource } from './source.js';

export interface TaskData {
  train: ImageSource;
  validation: ImageSource;
  /** Class names when the dataset has them (image folders), else the label numbers. */
  classNames: string[];
  close(): Promise<void>;
}

const SPLIT_SEED = 0x5eed;
const LIMIT_SEED = 0x11a1;

/** The first `limit` images of a seeded permutation: a class-balanced sample even when files are sorted by class. */
function limited(source: ImageSource, limit: number | undefined, seed: number, name: string): ImageSource {
  if (limit === undefined || limit >= source.count) return source;
  const order = permutation(source.count, seededRandom(seed, LIMIT_SEED)).slice(0, limit);
  return subset(source, order, `${source.description} (${name} limit ${limit})`);
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

/**
 * Opens the task's dataset as a training and a validation split, validating every file before training starts.
 * IDX and CIFAR-10 validate on their test split; an image folder on `valPath` or a seeded `validationSplit`.
 */
export async function openTaskData(
  tf: Tf | undefined,
  task: Task,
  arch: Architecture,
  seed: number,
): Promise<TaskData> {
  const { dataset } = task;
  let train: ImageSource;
  let validation: ImageSource;
  let classNames = Array.from({ length: arch.classes }, (_, i) => String(i));
  if (dataset.format === 'fashion-mnist' || dataset.format === 'idx') {
    train = await openIdxSplit(dataset.path, 'train', arch.classes);
    validation = await closingOnError(train, openIdxSplit(dataset.path, 't10k', arch.classes));
  } else if (dataset.format === 'cifar10') {
    train = await openCifarSplit(dataset.path, 'train', arch.classes);
    validation = await closingOnError(train, openCifarSplit(dataset.path, 'test', arch.classes));
  } else {
    classNames = await listClasses(dataset.path);
    if (classNames.length !== arch.classes) {
      throw new DatasetError(
        `${dataset.path} has ${classNames.length} class folders (${classNames.join(', ') || 'none'}) but architecture.classes is ${arch.classes}`,
      );
    }
    const all = await openImageFolder(tf, dataset.path, classNames, arch.inputChannels);
    if (dataset.valPath) {
      train = all;
      validation = await openImageFolder(tf, dataset.valPath, classNames, arch.inputChannels);
    } else {
      const order = permutation(all.count, seededRandom(seed, SPLIT_SEED));
      const valCount = Math.max(1, Math.round(all.count * task.validationSplit));
      if (valCount >= all.count) {
        throw new DatasetError(`${dataset.path}: ${all.count} images are too few for a validation split`);
      }
      validation = subset(all, order.slice(0, valCount), `${dataset.path} (validation split)`);
      train = subset(all, order.slice(valCount), `${dataset.path} (training split)`);
    }
  }
  train = limited(train, task.trainLimit, seed, 'train');
  validation = limited(validation, task.valLimit, seed + 1, 'validation');
  return {
    train,
    validation,
    classNames,
    async close() {
      await train.close();
      if (validation !== train) await validation.close();
    },
  };
}
