import type { Dirent } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { dirname, extname, posix, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { describeSkipped, IndexBuilder, SignatureCheck, SkipTally, type CompactIndex } from './image-index-build.js';
import { beneathRoot, fieldsOf } from './manifest-line.js';
import type { ImageIndex } from './image-index-types.js';
import { DatasetError } from './source.js';

export { IMAGE_FORMATS, type ImageFormat } from './image-signature.js';
export { readImageIndex, writeImageIndex } from './image-index-file.js';
export type { ImageIndex, SkipReport } from './image-index-types.js';

export interface IndexOptions {
  /** The training classes, when indexing a validation split: labels follow them, and other classes are errors. */
  classNames?: readonly string[];
  /** Count files with an image extension but no image signature as skipped instead of failing. */
  skipCorrupt?: boolean;
}

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.gif', '.bmp', '.webp']);
const hasImageExtension = (name: string) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase());

/** What a directory entry is once symlinks are followed; folders carry an identity to detect symlink loops. */
type Kind = { is: 'folder'; id: string } | { is: 'file' } | { is: 'broken symlink' } | { is: 'not a regular file' };

async function kindOf(path: string, entry: Dirent): Promise<Kind> {
  if (entry.isFile()) return { is: 'file' };
  if (!entry.isDirectory() && !entry.isSymbolicLink()) return { is: 'not a regular file' };
  let info;
  try {
    info = await stat(path, { bigint: true });
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    if (code === 'ENOENT' || code === 'ELOOP') return { is: 'broken symlink' };
    throw new DatasetError(`${path}: cannot be read (${message})`);
  }
  if (info.isDirectory()) return { is: 'folder', id: `${info.dev}:${info.ino}` };
  return info.isFile() ? { is: 'file' } : { is: 'not a regular file' };
}

/** A folder's entries in name order, so labels and the image order are the same on every machine. */
async function entriesOf(folder: string): Promise<Dirent[]> {
  try {
    const entries = await readdir(folder, { withFileTypes: true });
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (err) {
    throw new DatasetError(`${folder}: cannot be read as an image folder (${(err as Error).message})`);
  }
}

/**
 * The walk of one class folder. Each real folder is walked once (`seen` holds their device and inode), so symlink
 * loops end; folders reached through a symlink are walked after the real tree, so an image reachable both ways is
 * indexed once, under its real path.
 */
class ClassWalk {
  private readonly seen = new Set<string>();
  private readonly linked: { relative: string; id: string }[] = [];

  constructor(
    private readonly root: string,
    private readonly label: number,
    private readonly check: SignatureCheck,
    private readonly skips: SkipTally,
  ) {}

  async run(relative: string, id: string): Promise<void> {
    this.linked.push({ relative, id });
    for (let next = this.linked.shift(); next; next = this.linked.shift()) await this.folder(next.relative, next.id);
  }

  private async folder(relativeFolder: string, id: string): Promise<void> {
    if (this.seen.has(id)) return this.skips.skip(relativeFolder, 'folder already indexed');
    this.seen.add(id);
    for (const entry of await entriesOf(`${this.root}/${relativeFolder}`)) {
      const relative = `${relativeFolder}/${entry.name}`;
      const kind = await kindOf(`${this.root}/${relative}`, entry);
      if (entry.name.startsWith('.')) {
        this.skips.skip(relative, kind.is === 'folder' ? 'hidden folder' : 'hidden file');
      } else if (kind.is === 'folder') {
        if (entry.isSymbolicLink()) this.linked.push({ relative, id: kind.id });
        else await this.folder(relative, kind.id);
      } else if (kind.is !== 'file') {
        this.skips.skip(relative, kind.is);
      } else if (hasImageExtension(entry.name)) {
        await this.check.add(relative, this.label);
      } else {
        this.skips.skip(relative, 'not an image extension');
      }
    }
  }
}

/** Up to 10 names, for messages about classes (ImageNet has 1,000). */
function someOf(names: readonly string[]): string {
  return names.length <= 10 ? names.join(', ') : `${names.slice(0, 10).join(', ')} and ${names.length - 10} more`;
}

/**
 * An index has images, and a training split (no `classNames` given) has some of every class: a class without
 * images would still be an output of the model, never trained.
 */
function requireImages(index: CompactIndex, options: IndexOptions, source: string): void {
  if (index.count === 0) throw new DatasetError(`${source}: no images (${describeSkipped(index.skipped)})`);
  if (options.classNames) return;
  const seen = new Uint8Array(index.classNames.length);
  for (const label of index.arrays.labels) seen[label] = 1;
  const empty = index.classNames.filter((_, label) => seen[label] === 0);
  if (empty.length > 0) {
    throw new DatasetError(
      `${source}: class(es) ${someOf(empty)} have no images (${describeSkipped(index.skipped)}); ` +
        'every training class needs some',
    );
  }
}

/**
 * One first-level sub-folder per class, images at any depth beneath it, symlinks followed. Files that are not
 * images by name are counted in `skipped`; files named as images must have an image signature.
 */
export async function indexImageFolder(folder: string, options: IndexOptions = {}): Promise<ImageIndex> {
  const root = resolve(folder);
  const skips = new SkipTally();
  const classFolders = new Map<string, string>();
  for (const entry of await entriesOf(root)) {
    const kind = await kindOf(`${root}/${entry.name}`, entry);
    if (entry.name.startsWith('.')) skips.skip(entry.name, kind.is === 'folder' ? 'hidden folder' : 'hidden file');
    else if (kind.is === 'folder') classFolders.set(entry.name, kind.id);
    else skips.skip(entry.name, kind.is === 'file' ? 'not in a class folder' : kind.is);
  }
  const classNames = options.classNames ?? [...classFolders.keys()];
  const unknown = [...classFolders.keys()].filter((name) => !classNames.includes(name));
  if (unknown.length > 0) {
    throw new DatasetError(
      `${root}: class folder(s) ${someOf(unknown)} are not in the training classes (${someOf(classNames)})`,
    );
  }
  if (classNames.length === 0) throw new DatasetError(`${root}: no class folders (one sub-folder per class)`);
  const builder = new IndexBuilder();
  const check = new SignatureCheck(root, builder, skips, options.skipCorrupt ?? false);
  await check.run(async () => {
    for (const [name, id] of classFolders) {
      await new ClassWalk(root, classNames.indexOf(name), check, skips).run(name, id);
    }
  });
  const index = builder.finish(root, classNames, skips.report());
  requireImages(index, options, root);
  return index;
}

/**
 * A `path,label` CSV (or TSV: tab-separated when the first line has a tab) naming each image and its class, such as
 * ImageNet's flat validation folder with its labels file. Paths are relative to `root`, by default the manifest's
 * folder; classes are the sorted labels unless `classNames` is given.
 */
export async function indexManifest(
  manifestFile: string,
  options: IndexOptions & { root?: string } = {},
): Promise<ImageIndex> {
  const file = resolve(manifestFile);
  const root = resolve(options.root ?? dirname(file));
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw new DatasetError(`${file}: cannot be read as a manifest (${(err as Error).message})`);
  }
  const skips = new SkipTally();
  const builder = new IndexBuilder();
  const check = new SignatureCheck(root, builder, skips, options.skipCorrupt ?? false, (n) => `${file}:${n}: `);
  // Labels in order of first appearance, sorted once the whole manifest is read.
  const labels = new Map((options.classNames ?? []).map((name, label) => [name, label]));
  let separator: string | undefined;
  let lineNumber = 0;
  const input = handle.createReadStream({ encoding: 'utf8' });
  try {
    await check.run(async () => {
      for await (const text of createInterface({ input, crlfDelay: Infinity })) {
        lineNumber++;
        // Spreadsheets save CSV with a byte-order mark.
        const line = lineNumber === 1 ? text.replace(/^\uFEFF/, '') : text;
        if (line.trim() === '') continue;
        const where = `${file}:${lineNumber}`;
        const header = separator === undefined;
        separator ??= line.includes('\t') ? '\t' : ',';
        const fields = fieldsOf(line, separator, where);
        if (header && fields.length === 2 && fields.join(',').toLowerCase() === 'path,label') continue;
        if (fields.length !== 2) throw new DatasetError(`${where}: ${fields.length} columns, expected path,label`);
        const relative = beneathRoot(fields[0], root, where);
        const name = fields[1];
        if (name === '') throw new DatasetError(`${where}: empty label`);
        let label = labels.get(name);
        if (label === undefined) {
          if (options.classNames) {
            throw new DatasetError(`${where}: label ${name} is not a training class (${someOf(options.classNames)})`);
          }
          label = labels.size;
          labels.set(name, label);
        }
        const base = posix.basename(relative);
        if (base.startsWith('.')) skips.skip(relative, 'hidden file');
        else if (!hasImageExtension(base)) skips.skip(relative, 'not an image extension');
        else await check.add(relative, label, lineNumber);
      }
    });
  } finally {
    // Also closes the file, even when reading stopped early.
    input.destroy();
  }
  const classNames = options.classNames ?? [...labels.keys()].sort();
  const relabel = Uint32Array.from(labels.keys(), (name) => classNames.indexOf(name));
  const index = builder.finish(root, classNames, skips.report(), relabel);
  requireImages(index, options, file);
  return index;
}
