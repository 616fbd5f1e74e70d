/**
 * `npm run bench:input [-- --json] [--folder DIR] [--batches N]`: effscale's input pipeline against Python tf.data
 * on the same ImageNet-shaped JPEG folder, measured in the same run, and end-to-end training on that folder.
 *
 * 1. the pipeline alone at 224 px with the training augmentation (random-resized crop, flip): img/s at 1 and 2
 *    threads, against Python tf.data doing the same work (bench/input_tfdata.py) at the same thread count;
 * 2. training micro-32 (at 64 px, where the step outweighs decoding on a small CPU) for one epoch: wall-time
 *    img/s as the result reports it, the compute-only rate (wall minus input waits), and the input wait fraction.
 *
 * The folder is made (once, cached) by bench/make-image-folder.py from the wallpapers of Debian's gnome-backgrounds:
 * 10 classes, 1,500 train + 300 val photos, short side 300–500 px, ~40 KB each.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getPreset } from '../scaling/presets.js';
import { indexImageFolder, type ImageIndex } from '../trainer/data/image-index.js';
import { ImagePipeline } from '../trainer/data/pipeline.js';
import { loadNativeTf } from '../trainer/tf.js';
import { trainCandidate } from '../trainer/train.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cache = process.env.EFFSCALE_CACHE ?? join(homedir(), '.cache', 'effscale');
const RESOLUTION = 224;
const BATCH = 32;
const PREFETCH = 4;
const WARMUP = 3;

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

function photoFolder(): string {
  const given = flag('folder');
  if (given) return given;
  const out = join(cache, 'bench', 'input-photos');
  const args = [join(repo, 'bench', 'make-image-folder.py'), out, '--classes', '10', '--train', '1500', '--val', '300'];
  execFileSync('/usr/bin/python3', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

function pythonTf(): string {
  return execFileSync('bash', [join(repo, 'infra', 'setup-tf-python.sh')], { encoding: 'utf8' }).trim();
}

/** img/s of effscale's pipeline alone: `batches` batches after a warmup, passes restarted as epochs end. */
function pipelineRate(index: ImageIndex, threads: number, batches: number): number {
  const tf = loadNativeTf('tensorflow', { onednn: true });
  const pipeline = ImagePipeline.create(tf, {
    resolution: RESOLUTION,
    channels: 3,
    classes: index.classNames.length,
    batchSize: BATCH,
    threads,
    prefetch: PREFETCH,
    decode: 'jpeg',
    crop: { kind: 'random-resized', area: [0.08, 1], aspect: [3 / 4, 4 / 3] },
    flip: true,
    interpolation: 'bilinear',
    skipErrors: false,
    source: { kind: 'files' },
  });
  const n = index.count;
  let epoch = 0;
  const startPass = () => {
    const seeds = new Int32Array(2 * n);
    for (let i = 0; i < n; i++) [seeds[2 * i], seeds[2 * i + 1]] = [epoch, i];
    const paths = Array.from({ length: n }, (_, i) => index.pathBytes((i * 7919 + epoch) % n));
    const labels = Int32Array.from({ length: n }, (_, i) => index.label((i * 7919 + epoch) % n));
    pipeline.start({ kind: 'files', paths, labels, seeds });
    epoch++;
  };
  const perPass = Math.floor(n / BATCH);
  let left = 0;
  let images = 0;
  let t0 = 0;
  for (let b = 0; b < WARMUP + batches; b++) {
    if (left === 0) {
      startPass();
      left = perPass;
    }
    if (b === WARMUP) t0 = performance.now();
    const batch = pipeline.next('raw');
    if (!batch) throw new Error('the pipeline ended early');
    if (b >= WARMUP) images += batch.size;
    tf.dispose([batch.images, batch.labels]);
    left--;
  }
  const seconds = (performance.now() - t0) / 1000;
  pipeline.dispose();
  return images / seconds;
}

function tfdataRate(python: string, folder: string, threads: number, batches: number): number {
  const args = [join(repo, 'bench', 'input_tfdata.py'), folder, '--resolution', String(RESOLUTION)];
  args.push('--batch', String(BATCH), '--threads', String(threads), '--batches', String(batches));
  args.push('--warmup', String(WARMUP));
  const out = execFileSync(python, args, { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } });
  const line = out.trim().split('\n').pop() ?? '';
  return (JSON.parse(line) as { imagesPerSecond: number }).imagesPerSecond;
}

async function endToEnd(folder: string, classes: number) {
  const architecture = { ...getPreset('micro-32'), resolution: 64, classes };
  const result = await trainCandidate(
    {
      id: 'bench-input',
      architecture,
      task: {
        dataset: { format: 'image-folder', path: join(folder, 'train'), valPath: join(folder, 'val') },
        augment: { flip: true, randomResizedCrop: {} },
      },
      training: { epochs: 1, batchSize: BATCH, seed: 1 },
    },
    mkdtempSync(join(tmpdir(), 'effscale-bench-input-')),
  );
  const wait = result.inputWaitFraction ?? 0;
  return {
    resolution: architecture.resolution,
    imagesPerSecond: result.imagesPerSecond,
    computeOnlyImagesPerSecond: result.imagesPerSecond / Math.max(1e-9, 1 - wait),
    inputWaitFraction: wait,
  };
}

async function main() {
  const folder = photoFolder();
  const batches = Number(flag('batches') ?? 60);
  const index = await indexImageFolder(join(folder, 'train'));
  const python = pythonTf();
  const cases = [1, 2].map((threads) => {
    const imagesPerSecond = pipelineRate(index, threads, batches);
    const tfdataImagesPerSecond = tfdataRate(python, join(folder, 'train'), threads, batches);
    return {
      name: `pipeline-${RESOLUTION}px-train-augment`,
      threads,
      imagesPerSecond,
      tfdataImagesPerSecond,
      ratio: imagesPerSecond / tfdataImagesPerSecond,
    };
  });
  const e2e = await endToEnd(folder, index.classNames.length);
  const report = { folder, images: index.count, cases, endToEnd: e2e };
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  const [one, two] = cases;
  for (const c of cases) {
    console.log(
      `pipeline alone, ${c.threads} thread(s): ${c.imagesPerSecond.toFixed(0)} img/s; Python tf.data ` +
        `${c.tfdataImagesPerSecond.toFixed(0)} img/s; ratio ${c.ratio.toFixed(2)}`,
    );
  }
  console.log(`2 threads / 1 thread: ${(two.imagesPerSecond / one.imagesPerSecond).toFixed(2)}×`);
  console.log(
    `training micro-32 at ${e2e.resolution} px: ${e2e.imagesPerSecond.toFixed(0)} img/s wall, ` +
      `${e2e.computeOnlyImagesPerSecond.toFixed(0)} img/s without input waits, ` +
      `${(e2e.inputWaitFraction * 100).toFixed(1)} % of the time waiting for input`,
  );
}

await main();
