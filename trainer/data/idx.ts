import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openRandomAccess, uncompressed, type RandomAccessFile } from './files.js';
import { DatasetError, type ImageSource, type RawImage } from './source.js';

const IMAGES_MAGIC = 0x00000803; // unsigned bytes, 3 dimensions
const LABELS_MAGIC = 0x00000801; // unsigned bytes, 1 dimension

/** Finds `<split>-images-idx3-ubyte` and `<split>-labels-idx1-ubyte` (gzipped or not, `-` or `.` before idx). */
async function findSplitFiles(folder: string, split: 'train' | 't10k'): Promise<{ images: string; labels: string }> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    throw new DatasetError(`dataset folder ${folder} does not exist or cannot be read`);
  }
  const find = (kind: 'images' | 'labels', dims: number) => {
    const pattern = new RegExp(`^${split}-${kind}[-.]idx${dims}-ubyte(\\.gz)?$`);
    const name = names.find((n) => pattern.test(n));
    if (!name) {
      throw new DatasetError(`${folder}: missing ${split}-${kind}-idx${dims}-ubyte(.gz) (the IDX ${kind} file)`);
    }
    return join(folder, name);
  };
  return { images: find('images', 3), labels: find('labels', 1) };
}

async function header(file: RandomAccessFile, magic: number, dims: number, original: string): Promise<number[]> {
  if (file.size < 4 + 4 * dims) throw new DatasetError(`${original}: too short to be an IDX file`);
  const view = new DataView((await file.readAt(0, 4 + 4 * dims)).buffer);
  if (view.getUint32(0) !== magic) {
    throw new DatasetError(
      `${original}: not an IDX ${dims === 3 ? 'image' : 'label'} file (magic 0x${view.getUint32(0).toString(16)}, expected 0x${magic.toString(16).padStart(8, '0')})`,
    );
  }
  return Array.from({ length: dims }, (_, i) => view.getUint32(4 + 4 * i));
}

/** One split of an IDX dataset (the MNIST family), validated up front: magic, sizes and matching counts. */
export async function openIdxSplit(folder: string, split: 'train' | 't10k', classes: number): Promise<ImageSource> {
  const paths = await findSplitFiles(folder, split);
  const images = await openRandomAccess(await uncompressed(paths.images));
  const labels = await openRandomAccess(await uncompressed(paths.labels));
  try {
    const [count, height, width] = (await header(images, IMAGES_MAGIC, 3, paths.images)) as [number, number, number];
    const [labelCount] = (await header(labels, LABELS_MAGIC, 1, paths.labels)) as [number];
    const imageBytes = height * width;
    if (images.size !== 16 + count * imageBytes) {
      throw new DatasetError(
        `${paths.images}: header says ${count} images of ${height}×${width} (${16 + count * imageBytes} bytes) but the file has ${images.size} bytes`,
      );
    }
    if (labels.size !== 8 + labelCount) {
      throw new DatasetError(`${paths.labels}: header says ${labelCount} labels but the file has ${labels.size - 8}`);
    }
    if (labelCount !== count) {
      throw new DatasetError(`${paths.labels} has ${labelCount} labels but ${paths.images} has ${count} images`);
    }
    const allLabels = await labels.readAt(8, labelCount);
    const maxLabel = allLabels.reduce((m, l) => Math.max(m, l), 0);
    if (maxLabel >= classes) {
      throw new DatasetError(
        `${paths.labels}: label ${maxLabel} found but the architecture has ${classes} classes (architecture.classes must be at least ${maxLabel + 1})`,
      );
    }
    return {
      description: paths.images,
      count,
      async read(indices) {
        return Promise.all(
          indices.map(async (i): Promise<RawImage> => ({
            pixels: await images.readAt(16 + i * imageBytes, imageBytes),
            height,
            width,
            channels: 1,
            label: allLabels[i],
          })),
        );
      },
      async close() {
        await images.close();
        await labels.close();
      },
    };
  } catch (err) {
    await images.close();
    await labels.close();
    throw err;
  }
}
