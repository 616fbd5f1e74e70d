import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { DatasetError } from './source.js';

/** Random access into a file: what lets batches be read in any order with bounded memory. */
export interface RandomAccessFile {
  readonly path: string;
  readonly size: number;
  readAt(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export async function openRandomAccess(path: string): Promise<RandomAccessFile> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat();
  return {
    path,
    size,
    async readAt(offset, length) {
      const buffer = new Uint8Array(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      if (bytesRead !== length) throw new DatasetError(`${path}: truncated at byte ${offset + bytesRead}`);
      return buffer;
    },
    close: () => handle.close(),
  };
}

function cacheRoot(): string {
  return join(process.env.EFFSCALE_CACHE ?? join(homedir(), '.cache', 'effscale'), 'datasets');
}

/**
 * A gzipped file cannot be read at random offsets, so it is inflated once (streamed, never whole in memory) into
 * a cache keyed by its path, size and mtime; plain files are used where they are.
 */
export async function uncompressed(path: string): Promise<string> {
  if (!path.endsWith('.gz')) return path;
  const info = await stat(path);
  const key = `${basename(path, '.gz')}-${info.size}-${Math.floor(info.mtimeMs)}`;
  const target = join(cacheRoot(), key);
  try {
    await stat(target);
    return target;
  } catch {
    await mkdir(cacheRoot(), { recursive: true });
    const partial = `${target}.${process.pid}.partial`;
    try {
      await pipeline(createReadStream(path), createGunzip(), createWriteStream(partial));
    } catch (err) {
      throw new DatasetError(`${path}: not a readable gzip file (${(err as Error).message})`);
    }
    await rename(partial, target);
    return target;
  }
}
