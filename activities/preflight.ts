import { access, constants, mkdir } from 'node:fs/promises';
import { openTaskData } from '../trainer/data/dataset.js';
import { DatasetError } from '../trainer/data/source.js';
import { SpecError } from '../scaling/validate.js';
import type { SearchSpec } from '../spec/search.js';
import { baselineOf } from './search-dir.js';

/** Images a training sees per epoch: the training split, and the validation split it is scored on. */
export interface DatasetSize {
  train: number;
  validation: number;
}

/**
 * Everything about a search that can be checked before a GPU is used, each failure naming the spec field: the
 * dataset opens with the baseline's class count and image channels (every file's signature is read), and the
 * registry directory is writable. Returns the images per epoch, for the cost estimate. Runs in the plan step on the worker, and in the CLI when it sees the same files.
 */
export async function checkSearchInputs(spec: SearchSpec, registryDir: string): Promise<DatasetSize> {
  const baseline = baselineOf(spec);
  let size: DatasetSize;
  try {
    const data = await openTaskData(undefined, spec.task, baseline, spec.training.seed);
    size = { train: data.train.count, validation: data.validation.count };
    await data.close();
  } catch (err) {
    if (err instanceof DatasetError)
      throw new SpecError(`task.dataset (${spec.task.dataset.format} at ${spec.task.dataset.path}): ${err.message}`);
    throw err;
  }
  try {
    await mkdir(registryDir, { recursive: true });
    await access(registryDir, constants.W_OK);
  } catch {
    throw new SpecError(`registry.path: ${registryDir} is not a writable directory`);
  }
  return size;
}
