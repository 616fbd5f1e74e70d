import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openRandomAccess, type RandomAccessFile } from './files.js';
import { DatasetError, type ImageSource, type RawImage } from './source.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE; // label byte, then the red, green and blue planes

async function locate(folder: string): Promise<{ dir: string; names: string[] }> {
  for (const dir of [folder, join(folder, 'cifar-10-batches-bin')]) {
    try {
      return { dir, names: await readdir(dir) };
    } catch {
      // try the archive's own sub-folder next
    }
  }
  throw new DatasetError(`CIFAR-10 folder ${folder} does not exist or cannot be read`);
}

/** The CIFAR-10 binary format: `data_batch_1..5.bin` for training, `test_batch.bin` for validation. */
export async function openCifarSplit(folder: string, split: 'train' | 'test', classes: number): Promise<ImageSource> {
  const { dir, names } = await locate(folder);
  const pattern = split === 'train' ? /^data_batch_\d+\.bin$/ : /^test_batch\.bin$/;
  const batchNames = names.filter((n) => pattern.test(n)).sort();
  if (batchNames.length === 0) {
    throw new DatasetError(
      `${dir}: no ${split === 'train' ? 'data_batch_N.bin' : 'test_batch.bin'} file (CIFAR-10 binary version expected)`,
    );
  }
  const files: RandomAccessFile[] = [];
  const labels: Uint8Array[] = [];
  try {
    for (const name of batchNames) {
      const file = await openRandomAccess(join(dir, name));
      files.push(file);
      if (file.size === 0 || file.size % RECORD !== 0) {
        throw new DatasetError(`${file.path}: ${file.size} bytes is not a whole number of ${RECORD}-byte records`);
      }
      const fileLabels = new Uint8Array(file.size / RECORD);
      // Labels are read in chunks of records: a few megabytes at a time, never the whole file.
      for (let r = 0; r < fileLabels.length; r += 1000) {
        const n = Math.min(1000, fileLabels.length - r);
        const chunk = await file.readAt(r * RECORD, n * RECORD);
        for (let k = 0; k < n; k++) fileLabels[r + k] = chunk[k * RECORD];
      }
      const bad = fileLabels.findIndex((l) => l >= classes);
      if (bad >= 0) {
        throw new DatasetError(
          `${file.path}: record ${bad} has label ${fileLabels[bad]} but the architecture has ${classes} classes`,
        );
      }
      labels.push(fileLabels);
    }
  } catch (err) {
    await Promise.all(files.map((f) => f.close()));
    throw err;
  }
  const starts = labels.reduce<number[]>((acc, l, i) => [...acc, (acc[i] ?? 0) + l.length], [0]);
  const locateRecord = (index: number) => {
    const f = starts.findIndex((start, i) => index >= start && index < starts[i + 1]);
    return { file: files[f], record: index - starts[f], label: labels[f][index - starts[f]] };
  };
  return {
    description: files.map((f) => f.path).join(', '),
    count: starts[starts.length - 1],
    async read(indices) {
      return Promise.all(
        indices.map(async (i): Promise<RawImage> => {
          const { file, record, label } = locateRecord(i);
          const planes = await file.readAt(record * RECORD + 1, 3 * PLANE);
          const pixels = new Uint8Array(3 * PLANE);
          for (let p = 0; p < PLANE; p++) {
            pixels[3 * p] = planes[p];
            pixels[3 * p + 1] = planes[PLANE + p];
            pixels[3 * p + 2] = planes[2 * PLANE + p];
          }
          return { pixels, height: SIDE, width: SIDE, channels: 3, label };
        }),
      );
    },
    async close() {
      await Promise.all(files.map((f) => f.close()));
    },
  };
}
