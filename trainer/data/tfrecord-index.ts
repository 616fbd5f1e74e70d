import { open, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../durable.js';
import { z } from 'zod';
import { DatasetError } from './source.js';

/**
 * The shards of a TFRecord dataset and how many records each holds. Counting reads only each record's 12-byte
 * header (length and its CRC) and seeks past the data, so ImageNet's 1,024 training shards are counted in seconds,
 * once per search; the trainers read the counts (for epochs, batches and the learning-rate schedule) from the
 * index. Shards are named relative to their folder, so a pod that mounts the folder elsewhere finds them.
 */
export const ShardIndex = z.object({
  folder: z.string(),
  shards: z.array(z.object({ file: z.string(), records: z.number().int().nonnegative() })),
});
export type ShardIndex = z.infer<typeof ShardIndex>;

export const shardCount = (index: ShardIndex): number => index.shards.reduce((n, s) => n + s.records, 0);
export const shardPaths = (index: ShardIndex): string[] => index.shards.map((s) => join(index.folder, s.file));

/** A folder's files, or the files a pattern such as `/data/imagenet/train-*` names (`*` within the file name). */
export async function listShards(pattern: string): Promise<{ folder: string; files: string[] }> {
  const folder = await shardFolder(pattern);
  const glob =
    folder === resolve(pattern) ? undefined : new RegExp(`^${basename(pattern).split('*').map(escape).join('.*')}$`);
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    throw new DatasetError(`${pattern}: the folder ${folder} cannot be read`);
  }
  const files = names.filter((n) => !n.startsWith('.') && (!glob || glob.test(n))).sort();
  if (files.length === 0) throw new DatasetError(`${pattern}: no TFRecord shards`);
  return { folder, files };
}

const escape = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

/** Records in one shard, from the framing: uint64 length, uint32 CRC, data, uint32 CRC. */
async function countRecords(path: string): Promise<number> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const header = Buffer.alloc(12);
    let records = 0;
    for (let at = 0; at < size; records++) {
      const { bytesRead } = await handle.read(header, 0, 12, at);
      const length = bytesRead === 12 ? Number(header.readBigUInt64LE(0)) : NaN;
      const next = at + 12 + length + 4;
      if (!(next <= size)) throw new DatasetError(`${path}: not a TFRecord file, or truncated at byte ${at}`);
      at = next;
    }
    return records;
  } finally {
    await handle.close();
  }
}

export async function indexShards(pattern: string): Promise<ShardIndex> {
  const { folder, files } = await listShards(pattern);
  const shards = [];
  for (const file of files) shards.push({ file, records: await countRecords(join(folder, file)) });
  if (shards.every((s) => s.records === 0)) throw new DatasetError(`${pattern}: the shards hold no records`);
  return { folder, shards };
}

/** Written under a name unique to this call, synced, then renamed: readers see the old file or the new one. */
export async function writeShardIndex(index: ShardIndex, file: string): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(index));
}

/** The counts the plan step wrote, with the shards in `folder` (where this process sees them). */
export async function readShardIndex(file: string, pattern: string): Promise<ShardIndex> {
  let parsed;
  try {
    parsed = ShardIndex.parse(JSON.parse(await readFile(file, 'utf8')));
  } catch (err) {
    throw new DatasetError(`${file}: not a TFRecord shard index (${(err as Error).message})`);
  }
  return { folder: await shardFolder(pattern), shards: parsed.shards };
}

async function shardFolder(pattern: string): Promise<string> {
  const isFolder = await stat(pattern).then(
    (s) => s.isDirectory(),
    () => false,
  );
  return resolve(isFolder ? pattern : dirname(pattern));
}
