import { access, constants, mkdir } from 'node:fs/promises';
import { openTaskData } from '../trainer/data/dataset.js';
import { buildDatasetIndexes, datasetIndexDir, writeDatasetIndexes } from '../trainer/data/dataset-index.js';
import { splitCount } from '../trainer/data/splits.js';
import { isImageFiles, type ImageFilesDataset } from '../schemas/task.js';
import { DatasetError } from '../trainer/data/source.js';
import { SpecError } from '../scaling/validate.js';
import type { SearchSpec } from '../schemas/search.js';
import { baselineOf } from '../store/search-dir.js';
import type { DatasetSize } from '../search/estimate.js';

/**
 * Everything about a search that can be checked before a GPU is used, each failure naming the spec field: the
 * dataset opens with the baseline's class count and image channels (every file's signature is read, and an image
 * dataset's index is written under `indexRoot` for the trainers), and the
 * registry directory is writable. Returns the images per epoch, for the cost estimate. Runs in the plan step on the worker, and in the CLI when it sees the same files.
 */
export async function checkSearchInputs(
  spec: SearchSpec,
  registryDir: string,
  indexRoot?: string,
): Promise<DatasetSize> {
  const baseline = baselineOf(spec);
  let size: DatasetSize;
  try {
    const { dataset } = spec.task;
    // Image files are indexed once here, and every trainer reads the index instead of the folder.
    const task =
      isImageFiles(dataset) && indexRoot ? { ...spec.task, dataset: await indexed(dataset, indexRoot) } : spec.task;
    const data = await openTaskData(task, baseline, spec.training.seed);
    size = { train: splitCount(data.train), validation: splitCount(data.validation) };
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

/** Builds the dataset's index into its folder under `root`; returns the dataset pointing at it. */
async function indexed(dataset: ImageFilesDataset, root: string) {
  const dir = datasetIndexDir(root, dataset);
  await writeDatasetIndexes(await buildDatasetIndexes(dataset), dir);
  return { ...dataset, index: dir };
}
