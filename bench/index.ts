/**
 * `node dist/bench/index.js [--files N] [--folder F] [--json]`: how fast an image dataset is indexed
 * (indexImageFolder), how small its index file is, and how fast a trainer reads it back (readImageIndex), each
 * against the approach it replaces, measured in the same run: every trainer listing the class folders and checking
 * every file's signature, one file after another.
 *
 * Without --folder it indexes an ImageNet-shaped tree of N files (default 1,281,167: up to 1,000 class folders of
 * 1,280 files named like n01440764_10026.JPEG), each a JPEG signature and a few bytes, as only signatures are read.
 * The tree is generated once and cached under $EFFSCALE_CACHE/bench (default ~/.cache/effscale). Its files are
 * then in the page cache: these are warm-cache figures, the disk's latency excluded. The index is timed twice,
 * before and after the baseline, and the faster run is compared.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { availableParallelism, homedir, loadavg, tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { indexImageFolder, readImageIndex, writeImageIndex } from '../trainer/data/image-index.js';

const IMAGENET_TRAIN_FILES = 1_281_167;
const USAGE = 'node dist/bench/index.js [--files N] [--folder F] [--json]';
const cache = process.env.EFFSCALE_CACHE ?? join(homedir(), '.cache', 'effscale');
/** Progress goes to stderr, so --json keeps stdout to the JSON object. */
const progress = (line: string) => console.error(`bench:index: ${line}`);

const JPEG_START = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00]);

/** ImageNet's layout: 1,000 class folders of ~1,280 files (fewer folders for a small N). */
function generatedTree(count: number): string {
  const tree = join(cache, 'bench', `index-tree-${count}`);
  if (existsSync(tree)) return tree;
  const classes = Math.min(1000, Math.ceil(count / 1280));
  progress(`generating ${count} files in ${classes} class folders under ${tree} (once)`);
  // Written under a temporary name and renamed whole, so an interrupted generation is never mistaken for a tree.
  const partial = `${tree}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  for (let c = 0; c < classes; c++) {
    const wnid = `n${String(1440764 + c * 9973).padStart(8, '0')}`;
    mkdirSync(join(partial, wnid), { recursive: true });
    const inClass = Math.floor(count / classes) + (c < count % classes ? 1 : 0);
    for (let i = 0; i < inClass; i++) writeFileSync(join(partial, wnid, `${wnid}_${10000 + i * 7}.JPEG`), JPEG_START);
  }
  renameSync(partial, tree);
  return tree;
}

/**
 * What every trainer did before the index (trainer/data/image-folder.ts at ca58d97): list the class folders, keep
 * .png/.jpg/.jpeg files, and open each, one after another, to check its first 4 bytes.
 */
async function checkEveryFile(folder: string): Promise<number> {
  const classes = (await readdir(folder, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const extensions = new Set(['.png', '.jpg', '.jpeg']);
  const files: { path: string; label: number }[] = [];
  for (const [label, name] of classes.entries()) {
    const names = (await readdir(join(folder, name))).filter((n) => extensions.has(extname(n).toLowerCase())).sort();
    for (const n of names) {
      const path = join(folder, name, n);
      const handle = await open(path, 'r');
      const head = new Uint8Array(4);
      try {
        await handle.read(head, 0, 4, 0);
      } finally {
        await handle.close();
      }
      const jpeg = head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff;
      const png = head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47;
      if (!jpeg && !png) throw new Error(`${path}: not a PNG or JPEG image`);
      files.push({ path, label });
    }
  }
  return files.length;
}

async function timed<T>(run: () => Promise<T>): Promise<{ seconds: number; result: T }> {
  const start = performance.now();
  const result = await run();
  return { seconds: (performance.now() - start) / 1000, result };
}

async function measure(folder: string) {
  const loadBefore = loadavg();
  progress(`indexing ${folder}`);
  const first = await timed(() => indexImageFolder(folder));
  const index = first.result;
  progress('baseline: checking every file serially');
  const baseline = await timed(() => checkEveryFile(folder));
  if (baseline.result !== index.count) {
    throw new Error(`the baseline found ${baseline.result} images, the index ${index.count}`);
  }
  progress('indexing again');
  const second = await timed(() => indexImageFolder(folder));
  const indexSeconds = Math.min(first.seconds, second.seconds);
  const out = await mkdtemp(join(tmpdir(), 'effscale-bench-index-'));
  try {
    const file = join(out, 'train.index');
    const write = await timed(() => writeImageIndex(index, file));
    const reads = [];
    for (let i = 0; i < 3; i++) reads.push((await timed(() => readImageIndex(file))).seconds);
    const readSeconds = Math.min(...reads);
    const { count } = index;
    const { size } = await stat(file);
    return {
      folder,
      images: count,
      classes: index.classNames.length,
      cores: availableParallelism(),
      /** Other work on the machine, before and after. */
      loadAverage: [loadBefore[0], loadavg()[0]],
      index: {
        seconds: indexSeconds,
        runs: [first.seconds, second.seconds],
        imagesPerSecond: count / indexSeconds,
        speedup: baseline.seconds / indexSeconds,
        /** At the measured rate. */
        imagenetSeconds: (IMAGENET_TRAIN_FILES * indexSeconds) / count,
      },
      indexFile: {
        bytes: size,
        bytesPerImage: size / count,
        memoryBytesPerImage: index.byteLength / count,
        writeSeconds: write.seconds,
      },
      readBack: { seconds: readSeconds, imagesPerSecond: count / readSeconds, speedup: baseline.seconds / readSeconds },
      baseline: { seconds: baseline.seconds, imagesPerSecond: count / baseline.seconds },
    };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

function print(r: Awaited<ReturnType<typeof measure>>): void {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const s = (x: number) => `${x.toFixed(x < 1 ? 3 : 1)} s`;
  console.log(`${n(r.images)} images in ${n(r.classes)} classes, ${r.cores} cores, warm cache (${r.folder})`);
  console.log(
    `index      ${s(r.index.seconds)}  ${n(r.index.imagesPerSecond)} images/s  ` +
      `${r.index.speedup.toFixed(1)}× the baseline  (runs ${r.index.runs.map(s).join(', ')})`,
  );
  if (r.images !== IMAGENET_TRAIN_FILES) {
    console.log(`           ImageNet's ${n(IMAGENET_TRAIN_FILES)} files at this rate: ${s(r.index.imagenetSeconds)}`);
  }
  console.log(
    `index file ${n(r.indexFile.bytes)} bytes: ${r.indexFile.bytesPerImage.toFixed(1)} bytes/image ` +
      `(${r.indexFile.memoryBytesPerImage.toFixed(1)} in memory), written in ${s(r.indexFile.writeSeconds)}`,
  );
  console.log(
    `read back  ${s(r.readBack.seconds)}  ${n(r.readBack.imagesPerSecond)} images/s  ` +
      `${n(r.readBack.speedup)}× the baseline`,
  );
  console.log(`baseline   ${s(r.baseline.seconds)}  ${n(r.baseline.imagesPerSecond)} images/s  (each file in turn)`);
  console.log(`load average ${r.loadAverage.map((l) => l.toFixed(2)).join(' → ')}`);
}

try {
  const { values: args } = parseArgs({
    options: { files: { type: 'string' }, folder: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const files = Number(args.files ?? IMAGENET_TRAIN_FILES);
  if (!Number.isInteger(files) || files < 1) throw new Error(`--files ${args.files}: not a positive whole number`);
  const result = await measure(args.folder ?? generatedTree(files));
  if (args.json) console.log(JSON.stringify(result, null, 2));
  else print(result);
} catch (error) {
  console.error(`bench:index failed: ${error instanceof Error ? error.message : String(error)} (usage: ${USAGE})`);
  process.exitCode = 1;
}
