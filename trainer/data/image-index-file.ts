import { open, type FileHandle } from 'node:fs/promises';
import { writeFileAtomic } from '../durable.js';
import { z } from 'zod';
import { CompactIndex, IndexBuilder } from './image-index-build.js';
import type { ImageIndex } from './image-index-types.js';
import { IMAGE_FORMATS } from './image-signature.js';
import { DatasetError } from './source.js';

/**
 * The index file: 'EFSIDX', a uint16 version, a uint32 header length, the JSON header, then the arrays of
 * CompactIndex as they are in memory (offsets, labels, formats, paths), little-endian like every platform tfjs-node
 * runs on. Reading is a few large reads into typed arrays: no parsing per image.
 */
const MAGIC = 'EFSIDX';
const VERSION = 1;
const PREAMBLE_BYTES = 12;

const Header = z.object({
  root: z.string(),
  classNames: z.array(z.string()),
  count: z.number().int().nonnegative(),
  labelBytes: z.union([z.literal(2), z.literal(4)]),
  pathBytes: z.number().int().nonnegative(),
  skipped: z.object({
    counts: z.record(z.string(), z.number()),
    examples: z.array(z.object({ path: z.string(), reason: z.string() })),
    total: z.number(),
  }),
});
type Header = z.infer<typeof Header>;

const bytesOf = (a: Uint8Array | Uint16Array | Uint32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Any ImageIndex as the arrays written; an index built here already is one. */
function compact(index: ImageIndex): CompactIndex {
  if (index instanceof CompactIndex) return index;
  const builder = new IndexBuilder();
  for (let i = 0; i < index.count; i++) {
    builder.add(index.relativePath(i), index.label(i), IMAGE_FORMATS.indexOf(index.format(i)));
  }
  return builder.finish(index.root, index.classNames, index.skipped);
}

async function writeAll(handle: FileHandle, parts: Uint8Array[]): Promise<void> {
  let position = 0;
  for (const part of parts) {
    let done = 0;
    while (done < part.length) {
      const { bytesWritten } = await handle.write(part, done, part.length - done, position);
      done += bytesWritten;
      position += bytesWritten;
    }
  }
}

/**
 * Written to a temporary name unique to this call (two trainers of one machine may write the same index), synced,
 * then renamed: a reader sees the old file or the whole new one, even after a crash.
 */
export async function writeImageIndex(index: ImageIndex, file: string): Promise<void> {
  const { root, classNames, skipped, count, arrays } = compact(index);
  const header: Header = {
    root,
    classNames: [...classNames],
    count,
    labelBytes: arrays.labels.BYTES_PER_ELEMENT as 2 | 4,
    pathBytes: arrays.paths.length,
    skipped,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const preamble = new Uint8Array(PREAMBLE_BYTES);
  preamble.set(new TextEncoder().encode(MAGIC));
  const view = new DataView(preamble.buffer);
  view.setUint16(6, VERSION, true);
  view.setUint32(8, json.length, true);
  const { offsets, labels, formats, paths } = arrays;
  await writeFileAtomic(file, (handle) =>
    writeAll(handle, [preamble, json, bytesOf(offsets), bytesOf(labels), formats, paths]),
  );
}

async function readExactly(handle: FileHandle, into: Uint8Array, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw corrupt(file, `truncated at byte ${position + done}`);
    done += bytesRead;
  }
}

const corrupt = (file: string, why: string) =>
  new DatasetError(`${file}: not a valid image index (${why}); delete it to rebuild it`);

/** The header, and where the arrays start. */
async function readHeader(handle: FileHandle, file: string): Promise<{ header: Header; arraysAt: number }> {
  const preamble = new Uint8Array(PREAMBLE_BYTES);
  await readExactly(handle, preamble, 0, file);
  if (new TextDecoder().decode(preamble.subarray(0, MAGIC.length)) !== MAGIC) throw corrupt(file, 'no EFSIDX mark');
  const view = new DataView(preamble.buffer);
  const version = view.getUint16(6, true);
  if (version !== VERSION) throw corrupt(file, `version ${version}, this effscale reads version ${VERSION}`);
  const { size } = await handle.stat();
  const headerBytes = view.getUint32(8, true);
  if (PREAMBLE_BYTES + headerBytes > size) throw corrupt(file, `truncated at byte ${size}`);
  const json = new Uint8Array(headerBytes);
  await readExactly(handle, json, PREAMBLE_BYTES, file);
  let parsed;
  try {
    parsed = Header.safeParse(JSON.parse(new TextDecoder().decode(json)));
  } catch {
    throw corrupt(file, 'unreadable header');
  }
  if (!parsed.success) throw corrupt(file, `bad header: ${parsed.error.issues[0]?.message}`);
  const header = parsed.data;
  const expected = PREAMBLE_BYTES + headerBytes + 4 * (header.count + 1) + (header.labelBytes + 1) * header.count;
  if (size !== expected + header.pathBytes) {
    throw corrupt(file, `${size} bytes where its header implies ${expected + header.pathBytes}`);
  }
  return { header, arraysAt: PREAMBLE_BYTES + headerBytes };
}

/** Every offset, label and format in range, so a damaged file fails here rather than as a wrong image in training. */
function validate(file: string, header: Header, index: CompactIndex): void {
  const { offsets, labels, formats } = index.arrays;
  if (offsets[0] !== 0 || offsets[header.count] !== header.pathBytes) throw corrupt(file, 'path offsets out of range');
  for (let i = 0; i < header.count; i++) {
    if (offsets[i + 1] < offsets[i]) throw corrupt(file, `path offsets decrease at image ${i}`);
    if (labels[i] >= header.classNames.length) throw corrupt(file, `label ${labels[i]} at image ${i}`);
    if (formats[i] >= IMAGE_FORMATS.length) throw corrupt(file, `format ${formats[i]} at image ${i}`);
  }
}

/**
 * Reads an index file. `root` resolves the relative paths somewhere else than where the index was built: the same
 * dataset seen through another mount (a trainer pod reads the dataset volume where it is mounted).
 */
export async function readImageIndex(file: string, root?: string): Promise<ImageIndex> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw new DatasetError(`${file}: cannot read the image index (${(err as Error).message})`);
  }
  try {
    const { header, arraysAt } = await readHeader(handle, file);
    const { count } = header;
    const arrays = {
      offsets: new Uint32Array(count + 1),
      labels: header.labelBytes === 2 ? new Uint16Array(count) : new Uint32Array(count),
      formats: new Uint8Array(count),
      paths: new Uint8Array(header.pathBytes),
    };
    let position = arraysAt;
    for (const array of [arrays.offsets, arrays.labels, arrays.formats, arrays.paths]) {
      await readExactly(handle, bytesOf(array), position, file);
      position += array.byteLength;
    }
    const index = new CompactIndex(root ?? header.root, header.classNames, header.skipped, arrays);
    validate(file, header, index);
    return index;
  } finally {
    await handle.close();
  }
}
