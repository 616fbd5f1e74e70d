import { execFile } from 'node:child_process';
import { access, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root: this file runs from dist/test/integration/trainer/. */
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const script = join(repo, 'bench', 'make-image-folder.py');
const python = '/usr/bin/python3';

export interface PhotoFolderOptions {
  /** Class folders c00, c01, …; class k is cut from wallpaper k of gnome-backgrounds (varied when they run out). */
  classes: number;
  /** Train images in total, dealt round-robin over the classes. */
  train: number;
  /** Val images in total (OUT/val/<class>/, OUT/val-flat/ and OUT/val.csv). */
  val: number;
  /** Codecs cycled over the images: jpeg (default), png, webp, bmp, gif. */
  formats?: string[];
  /** Train instead holds this many 12-megapixel (4240×2832) JPEGs. */
  large?: number;
  seed?: number;
}

const pending = new Map<string, Promise<string>>();

/**
 * An ImageNet-shaped folder of real images (crops of the wallpapers the Debian package gnome-backgrounds ships, made
 * by bench/make-image-folder.py with the system python3 and PIL): OUT/train/<class>/*, OUT/val/<class>/*,
 * OUT/val-flat/* and OUT/val.csv. Cached under $EFFSCALE_CACHE/test-photos/<key of the options>; returns OUT.
 */
export async function photoFolder(options: PhotoFolderOptions): Promise<string> {
  const formats = options.formats ?? ['jpeg'];
  const seed = options.seed ?? 1;
  const large = options.large ?? 0;
  for (const [name, value, min] of [
    ['classes', options.classes, 1],
    ['train', options.train, 0],
    ['val', options.val, 0],
    ['large', large, 0],
    ['seed', seed, 0],
  ] as const) {
    if (!Number.isInteger(value) || value < min) throw new Error(`photoFolder: ${name} must be an integer >= ${min}`);
  }
  if (formats.length === 0 || formats.some((f) => !/^[a-z]+$/.test(f))) {
    throw new Error(`photoFolder: bad formats ${JSON.stringify(formats)}`);
  }
  const key = [
    `c${options.classes}`,
    `t${options.train}`,
    `v${options.val}`,
    formats.join('+'),
    `s${seed}`,
    ...(large > 0 ? [`large${large}`] : []),
  ].join('-');
  const args = [
    `--classes=${options.classes}`,
    `--train=${options.train}`,
    `--val=${options.val}`,
    `--formats=${formats.join(',')}`,
    `--seed=${seed}`,
    ...(large > 0 ? [`--large=${large}`] : []),
  ];
  let folder = pending.get(key);
  if (!folder) {
    folder = makeFolder(key, args);
    pending.set(key, folder);
    folder.catch(() => pending.delete(key));
  }
  return folder;
}

async function makeFolder(key: string, args: string[]): Promise<string> {
  const cache = process.env.EFFSCALE_CACHE ?? join(homedir(), '.cache', 'effscale');
  const out = join(cache, 'test-photos', key);
  if (await exists(join(out, '.complete'))) {
    // the script checks its marker against the arguments and its version: a no-op unless it changed
    await generate(out, args);
    return out;
  }
  // build beside, then move into place, so a half-made folder is never seen under the key
  const building = `${out}.building-${process.pid}-${Date.now()}`;
  try {
    await generate(building, args);
    await rm(out, { recursive: true, force: true });
    await rename(building, out);
  } catch (error) {
    await rm(building, { recursive: true, force: true });
    if (await exists(join(out, '.complete'))) return out; // another process made it meanwhile
    throw error;
  }
  return out;
}

async function generate(out: string, args: string[]): Promise<void> {
  if (!(await exists(python))) {
    throw new Error(`photoFolder: ${python} is missing; install the Debian packages python3 and python3-pil`);
  }
  try {
    await run(python, [script, out, ...args], { timeout: 15 * 60_000, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const e = error as { code?: number | string; stderr?: string; message?: string };
    const detail = (e.stderr ?? '').trim() || String(e.message ?? error);
    if (e.code === 3) {
      throw new Error(
        'photoFolder needs Python PIL: install the Debian package python3-pil (apt-get install python3-pil)',
      );
    }
    if (e.code === 4) {
      throw new Error(
        'photoFolder needs the wallpapers in /usr/share/backgrounds/gnome: install the Debian package gnome-backgrounds' +
          ' (apt-get install gnome-backgrounds)',
      );
    }
    throw new Error(`photoFolder: ${python} ${script} ${out} ${args.join(' ')} failed: ${detail}`, { cause: error });
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
