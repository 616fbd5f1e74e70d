import { open, readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Tf } from '../tf.js';
import { DatasetError, type ImageSource, type RawImage } from './source.js';

const EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];

async function hasImageSignature(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = new Uint8Array(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    const starts = (sig: number[]) => bytesRead >= sig.length && sig.every((b, i) => head[i] === b);
    return starts(PNG_SIGNATURE) || starts(JPEG_SIGNATURE);
  } finally {
    await handle.close();
  }
}

/** Class names of an image folder: its sub-folders, sorted, so the label order is stable across machines. */
export async function listClasses(folder: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch {
    throw new DatasetError(`image folder ${folder} does not exist or cannot be read`);
  }
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/**
 * One sub-folder of PNG/JPEG images per class. Only file paths are held; images are decoded (by libtensorflow) when
 * their batch is read. Every file's signature is checked up front so a corrupt or mislabelled file fails before
 * training, naming the file.
 */
export async function openImageFolder(
  tf: Tf | undefined,
  folder: string,
  classNames: readonly string[],
  channels: number,
): Promise<ImageSource> {
  const found = await listClasses(folder);
  const unknown = found.filter((c) => !classNames.includes(c));
  if (unknown.length > 0) {
    throw new DatasetError(
      `${folder}: class folder(s) ${unknown.join(', ')} are not in the training classes ${classNames.join(', ')}`,
    );
  }
  const files: { path: string; label: number }[] = [];
  for (const [label, name] of classNames.entries()) {
    if (!found.includes(name)) continue;
    const names = (await readdir(join(folder, name))).filter((n) => EXTENSIONS.has(extname(n).toLowerCase())).sort();
    for (const n of names) {
      const path = join(folder, name, n);
      if (!(await hasImageSignature(path))) throw new DatasetError(`${path}: not a PNG or JPEG image`);
      files.push({ path, label });
    }
  }
  if (files.length === 0) throw new DatasetError(`${folder}: no .png/.jpg/.jpeg images in its class folders`);
  return {
    description: folder,
    count: files.length,
    async read(indices) {
      if (!tf?.node)
        throw new DatasetError('image folders are decoded by native TensorFlow (tfjs-node): run `npm run setup`');
      const decoder = tf;
      return Promise.all(
        indices.map(async (i): Promise<RawImage> => {
          const { path, label } = files[i];
          const bytes = await readFile(path);
          let image;
          try {
            image = decoder.node.decodeImage(
              bytes,
              channels === 1 ? 1 : 3,
              'int32',
              false,
            ) as import('@tensorflow/tfjs-node').Tensor3D;
          } catch (err) {
            throw new DatasetError(`${path}: cannot be decoded (${(err as Error).message})`);
          }
          const [height, width, c] = image.shape;
          const pixels = Uint8Array.from(await image.data());
          image.dispose();
          return { pixels, height, width, channels: c, label };
        }),
      );
    },
    close: async () => undefined,
  };
}
