import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Files that survive a crash, a power cut or a lost node: written under a temporary name, flushed, renamed over
 * the old one, and the rename flushed. A reader (a retry, a resumed search, a replacement trainer pod) sees the
 * old file or the whole new one, never half of one. Every durable write of effscale goes through here: the
 * search's state, results, checkpoints, models, dataset indexes, candidate specs and the registry.
 */

/**
 * A temporary name no other writer uses: every container on a shared volume is PID 1 and many hosts share one
 * volume, and one process may write the same file twice at once.
 */
export function temporaryName(path: string): string {
  return `${path}.${hostname()}-${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
}

export async function withFile<T>(path: string, flags: string, use: (f: FileHandle) => Promise<T>): Promise<T> {
  const f = await open(path, flags);
  try {
    return await use(f);
  } finally {
    await f.close();
  }
}

/** A rename is durable once its folder is flushed. Some filesystems cannot flush a folder (EINVAL): the rename stands. */
export async function syncDirectory(dir: string): Promise<void> {
  await withFile(dir, 'r', (f) => f.sync()).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EINVAL' && err.code !== 'EBADF') throw err;
  });
}

/** The file's content, or a writer that fills the open handle (large files written in parts). */
export type Content = string | Uint8Array | ((handle: FileHandle) => Promise<void>);

/** Creates `path` (it must not exist) with `content`, flushed before it is closed. */
async function writeFlushed(path: string, content: Content): Promise<void> {
  await withFile(path, 'wx', async (f) => {
    await (typeof content === 'function' ? content(f) : f.writeFile(content));
    await f.sync();
  });
}

export async function writeFileAtomic(file: string, content: Content): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = temporaryName(file);
  try {
    await writeFlushed(tmp, content);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDirectory(dirname(file));
}

/**
 * A folder of files written beside `dir`, each flushed, then swapped in for the old one. Linux cannot swap two
 * folders in one step: a crash between the two renames (microseconds) leaves the previous folder beside `dir`
 * under its temporary name, never a half-written `dir`.
 */
export async function writeFolderAtomically(dir: string, files: Record<string, Content>): Promise<void> {
  const partial = temporaryName(dir);
  await mkdir(partial, { recursive: true });
  try {
    for (const [name, content] of Object.entries(files)) await writeFlushed(join(partial, name), content);
    await syncDirectory(partial);
    const previous = temporaryName(dir);
    const replacing = await stat(dir).then(
      () => true,
      () => false,
    );
    if (replacing) await rename(dir, previous);
    await rename(partial, dir);
    await syncDirectory(dirname(dir));
    if (replacing) await rm(previous, { recursive: true, force: true });
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
}

/** Flushes every file under `dir` and the folders themselves: a tree copied in with `cp` made durable. */
export async function syncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isDirectory()) await syncTree(path);
    else if (entry.isFile()) await withFile(path, 'r', (f) => f.sync());
  }
  await syncDirectory(dir);
}
