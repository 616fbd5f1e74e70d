import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Architecture } from '../../../scaling/architecture.js';
import { CandidateSpec } from '../../../schemas/candidate.js';
import { Task, type TaskInput } from '../../../schemas/task.js';
import { openTaskData } from '../../../trainer/data/dataset.js';
import { buildDatasetIndexes, writeDatasetIndexes } from '../../../trainer/data/dataset-index.js';
import { indexImageFolder } from '../../../trainer/data/image-index.js';
import { splitInput } from '../../../trainer/data/input.js';
import type { FileSplit } from '../../../trainer/data/splits.js';
import { ImagePipeline } from '../../../trainer/data/pipeline.js';
import { RAW_PIXEL } from '../../../trainer/data/pipeline-graph.js';
import { DatasetError } from '../../../trainer/data/source.js';
import { loadNativeTf } from '../../../trainer/tf.js';
import { trainCandidate } from '../../../trainer/train.js';
import { tempDir, tinyArchitecture } from './helpers.js';
import { photoFolder } from './photos.js';

const tf = loadNativeTf();
const run = promisify(execFile);
const PYTHON = `${process.env.EFFSCALE_CACHE ?? `${process.env.HOME}/.cache/effscale`}/tf-python-2.21.0/bin/python`;

const rgb = (classes: number, resolution = 32) => tinyArchitecture({ classes, inputChannels: 3, resolution });

function spec(id: string, dataset: TaskInput['dataset'], extra: Partial<TaskInput> = {}, classes = 4) {
  return {
    id,
    architecture: rgb(classes),
    task: { dataset, ...extra },
    training: { epochs: 1, batchSize: 8, learningRate: 3e-3, seed: 5 },
  };
}

/** A raw batch's pixels: a native uint8 tensor, which tfjs reads through a cast. */
function pixelsOf(images: import('@tensorflow/tfjs-node').Tensor): Uint8Array {
  const float = tf.cast(images, 'float32');
  const pixels = Uint8Array.from(float.dataSync());
  float.dispose();
  return pixels;
}

/** Every batch of one pass, as bytes, from a fresh pipeline (no state shared between passes). */
async function passBytes(split: FileSplit, task: Task, shuffle: { seed: number; epoch: number }, startBatch = 0) {
  const architecture = Architecture.parse(rgb(4));
  const input = splitInput(split, { tf, architecture, task, batchSize: 8, form: 'raw' }, true);
  const out: { pixels: Uint8Array; labels: Int32Array }[] = [];
  try {
    for await (const { batch } of input.epoch({ shuffle, startBatch })) {
      out.push({ pixels: pixelsOf(batch.xs), labels: Int32Array.from(batch.ys.dataSync()) });
      tf.dispose([batch.xs, batch.ys]);
    }
  } finally {
    input.dispose();
  }
  return out;
}

test('image folders of every codec, nested and symlinked, train through the TensorFlow pipeline', async () => {
  const photos = await photoFolder({ classes: 4, train: 40, val: 8, formats: ['jpeg', 'png', 'webp', 'bmp', 'gif'] });
  const dir = await tempDir('codecs');
  await cp(join(photos, 'train'), join(dir, 'data'), { recursive: true });
  // One class lives elsewhere behind a symlink; another keeps half its images in a nested folder.
  await rename(join(dir, 'data', 'c03'), join(dir, 'c03-elsewhere'));
  await symlink(join(dir, 'c03-elsewhere'), join(dir, 'data', 'c03'));
  await mkdir(join(dir, 'data', 'c02', 'nested', 'deeper'), { recursive: true });
  const [moved] = await readdir(join(dir, 'data', 'c02'));
  await rename(join(dir, 'data', 'c02', moved), join(dir, 'data', 'c02', 'nested', 'deeper', moved));
  await writeFile(join(dir, 'data', 'c01', 'notes.txt'), 'not an image');

  const index = await indexImageFolder(join(dir, 'data'));
  assert.equal(index.count, 40);
  assert.deepEqual(Object.keys(index.formatCounts()).sort(), ['bmp', 'gif', 'jpeg', 'png', 'webp']);
  assert.equal(index.skipped.counts['not an image extension'], 1);

  const out = await tempDir('codecs-out');
  const lines: string[] = [];
  const result = await trainCandidate(
    spec('codecs', { format: 'image-folder', path: join(dir, 'data') }, { validationSplit: 0.2 }),
    out,
    { log: (line) => lines.push(line) },
  );
  assert.equal(result.engine, 'graph');
  assert.equal(result.epochs.length, 1);
  const [epoch] = result.epochs;
  assert.ok(epoch.imagesPerSecond > 0);
  assert.ok(epoch.inputWaitFraction !== undefined && epoch.inputWaitFraction >= 0 && epoch.inputWaitFraction < 1);
  assert.ok(result.inputWaitFraction !== undefined);
  // Wall time: the images of the run over at most the run's whole duration.
  assert.ok(result.imagesPerSecond >= 32 / result.seconds, 'img/s is per second of training wall time');
  assert.ok(
    lines.some((l) => /1 file\(s\)? skipped|skipped.*not an image extension/i.test(l)),
    `the skipped file is reported: ${lines.join(' | ')}`,
  );
});

test('a CSV manifest with a flat validation folder (ImageNet val/ layout) trains', async () => {
  const photos = await photoFolder({ classes: 4, train: 32, val: 16 });
  const dir = await tempDir('manifest');
  const train = await indexImageFolder(join(photos, 'train'));
  const rows = Array.from(
    { length: train.count },
    (_, i) => `${train.relativePath(i)},${train.classNames[train.label(i)]}`,
  );
  await writeFile(join(dir, 'train.csv'), `path,label\n${rows.join('\n')}\n`);
  const dataset = {
    format: 'manifest' as const,
    path: join(dir, 'train.csv'),
    root: join(photos, 'train'),
    valPath: join(photos, 'val.csv'),
    valRoot: join(photos, 'val-flat'),
  };
  const data = await openTaskData(Task.parse({ dataset }), Architecture.parse(rgb(4)), 1);
  assert.equal(data.train.kind === 'files' && data.train.positions.length, 32);
  assert.equal(data.validation.kind === 'files' && data.validation.positions.length, 16);
  const result = await trainCandidate(spec('manifest', dataset), await tempDir('manifest-out'));
  assert.equal(result.epochs.length, 1);
  assert.ok(result.score >= 0 && result.score <= 1);
});

test('crops and resizes match Python TensorFlow on the same image', async () => {
  const photos = await photoFolder({ classes: 4, train: 8, val: 4 });
  const index = await indexImageFolder(join(photos, 'train'));
  const file = new TextDecoder().decode(index.pathBytes(0));
  const seed = [123, 7];
  const center = { kind: 'center' as const, fraction: 0.875 };
  const random = {
    kind: 'random-resized' as const,
    area: [0.08, 1] as [number, number],
    aspect: [0.75, 4 / 3] as [number, number],
  };
  // At 16 px the decoder scales a 300–500 px JPEG by 1/8, at 64 px by 1/4 or 1/2, at 256 px not at all.
  for (const [crop, size] of [
    [center, 64],
    [center, 16],
    [center, 256],
    [random, 64],
  ] as const) {
    const pipeline = ImagePipeline.create(tf, {
      resolution: size,
      channels: 3,
      classes: 4,
      batchSize: 1,
      threads: 1,
      prefetch: 1,
      decode: 'jpeg',
      crop,
      flip: false,
      interpolation: 'bilinear',
      skipErrors: false,
      source: { kind: 'files' },
    });
    pipeline.start({
      kind: 'files',
      paths: [index.pathBytes(0)],
      labels: Int32Array.of(0),
      seeds: Int32Array.from(seed),
    });
    const batch = pipeline.next('raw');
    assert.ok(batch);
    const ours = pixelsOf(batch.images);
    tf.dispose([batch.images, batch.labels]);
    pipeline.dispose();
    const { stdout } = await run(PYTHON, ['-c', PYTHON_CROP, file, JSON.stringify({ crop, seed, size })], {
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
      maxBuffer: 1 << 24,
    });
    const theirs = Uint8Array.from(JSON.parse(stdout.trim().split('\n').pop() ?? '[]') as number[]);
    assert.equal(theirs.length, ours.length, `${crop.kind} at ${size} px: same shape`);
    let worst = 0;
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - theirs[i]));
    assert.equal(worst, 0, `${crop.kind} at ${size} px: the pixels of Python TF's (off by up to ${worst})`);
  }
});

/**
 * The reference: the EfficientNet crops with Python TF's own ops, decoded at the JPEG scale that keeps the crop at
 * least `size` pixels and cast to uint8, as our pipeline does.
 */
const PYTHON_CROP = `
import sys, json, tensorflow as tf
path, opts = sys.argv[1], json.loads(sys.argv[2])
data = tf.io.read_file(path); shape = tf.io.extract_jpeg_shape(data); crop = opts['crop']
if crop['kind'] == 'center':
    h, w = int(shape[0]), int(shape[1]); side = max(1, int(crop['fraction'] * min(h, w)))
    window = [(h - side + 1) // 2, (w - side + 1) // 2, side, side]
else:
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(shape, tf.zeros([1, 0, 4]), seed=opts['seed'],
        min_object_covered=0.1, aspect_ratio_range=crop['aspect'], area_range=crop['area'], max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    window = [int(begin[0]), int(begin[1]), int(size[0]), int(size[1])]
ratio = max(r for r in (1, 2, 4, 8) if r == 1 or min(window[2], window[3]) >= r * opts['size'])
image = tf.io.decode_and_crop_jpeg(data, [v // ratio for v in window], channels=3, ratio=ratio)
image = tf.image.resize(image, [opts['size'], opts['size']], method='bilinear')
print(json.dumps(tf.cast(image, tf.uint8).numpy().flatten().tolist()))
`;

test('a pass is deterministic, and a resumed epoch draws the batches an uninterrupted one does', async () => {
  const photos = await photoFolder({ classes: 4, train: 40, val: 8 });
  const task = Task.parse({
    dataset: { format: 'image-folder', path: join(photos, 'train') },
    augment: { flip: true, randomResizedCrop: {} },
  });
  const data = await openTaskData(task, Architecture.parse(rgb(4)), 3);
  assert.equal(data.train.kind, 'files');
  const split = data.train as FileSplit;
  const whole = await passBytes(split, task, { seed: 9, epoch: 2 });
  const again = await passBytes(split, task, { seed: 9, epoch: 2 });
  const resumed = await passBytes(split, task, { seed: 9, epoch: 2 }, 2);
  const other = await passBytes(split, task, { seed: 9, epoch: 3 });
  assert.equal(whole.length, Math.ceil(split.positions.length / 8));
  assert.deepEqual(again, whole, 'the same (seed, epoch) gives the same bytes');
  assert.deepEqual(resumed, whole.slice(2), 'batches 2… of a resumed epoch are those of the whole epoch');
  assert.notDeepEqual(other[0].pixels, whole[0].pixels, 'another epoch draws other crops');
});

test('a truncated image is named, or counted and skipped with skipCorrupt', async () => {
  const photos = await photoFolder({ classes: 4, train: 32, val: 8 });
  const dir = await tempDir('truncated');
  await cp(join(photos, 'train'), dir, { recursive: true });
  const victim = join(dir, 'c01', 'c01_00001.jpg');
  await writeFile(victim, (await readFile(victim)).subarray(0, 2000));
  const dataset = { format: 'image-folder' as const, path: dir, valPath: join(photos, 'val') };
  await assert.rejects(trainCandidate(spec('truncated', dataset), await tempDir('truncated-out')), (err) => {
    assert.ok(err instanceof DatasetError, String(err));
    assert.match(err.message, /c01\/c01_00001\.jpg: cannot be decoded/);
    return true;
  });
  const result = await trainCandidate(spec('skipped', { ...dataset, skipCorrupt: true }), await tempDir('skipped-out'));
  assert.equal(result.epochs[0].skippedImages, 1);
});

test('trainers read the index the plan step wrote, without opening the dataset folder', async () => {
  const photos = await photoFolder({ classes: 4, train: 32, val: 8 });
  const dir = await tempDir('indexed');
  await cp(join(photos, 'train'), join(dir, 'data'), { recursive: true });
  const dataset = { format: 'image-folder' as const, path: join(dir, 'data') };
  const indexDir = join(dir, 'index');
  await writeDatasetIndexes(await buildDatasetIndexes(Task.parse({ dataset }).dataset as never), indexDir);
  // The folder is now elsewhere (as a pod mounts it): the index answers without walking it, resolving its
  // relative paths against the folder the spec names.
  await rename(join(dir, 'data'), join(dir, 'moved'));
  const task = Task.parse({ dataset: { ...dataset, path: join(dir, 'moved'), index: indexDir } });
  const data = await openTaskData(task, Architecture.parse(rgb(4)), 1);
  assert.equal(data.train.kind, 'files');
  const train = data.train as FileSplit;
  assert.equal(train.positions.length + (data.validation as FileSplit).positions.length, 32);
  const first = new TextDecoder().decode(train.index.pathBytes(train.positions[0]));
  assert.ok(first.startsWith(`${join(dir, 'moved')}/`), first);
  await assert.rejects(
    openTaskData(Task.parse({ dataset }), Architecture.parse(rgb(4)), 1),
    DatasetError,
    'without the index the (gone) folder would be walked',
  );
  assert.ok(CandidateSpec.safeParse(spec('x', task.dataset)).success);
});

/** Peak RSS of a training in a process of its own (`effscale train --json`). */
async function trainedRss(specFile: string, out: string): Promise<number> {
  const { stdout } = await run(
    process.execPath,
    ['bin/effscale.js', 'train', '--spec', specFile, '--out', out, '--json'],
    {
      maxBuffer: 1 << 24,
    },
  );
  return (JSON.parse(stdout) as { peakRssBytes: number }).peakRssBytes;
}

test('12-megapixel photos train in the memory of small ones (the JPEG decoder scales the crop down)', async () => {
  const large = await photoFolder({ classes: 4, train: 32, val: 8, large: 32 });
  const small = await photoFolder({ classes: 4, train: 32, val: 8 });
  const dir = await tempDir('memory');
  const rss: number[] = [];
  for (const [name, photos] of [
    ['large', large],
    ['small', small],
  ] as const) {
    const file = join(dir, `${name}.json`);
    const dataset = { format: 'image-folder', path: join(photos, 'train'), valPath: join(photos, 'val') };
    await writeFile(
      file,
      JSON.stringify({
        ...spec(name, dataset as TaskInput['dataset'], { augment: { flip: true, randomResizedCrop: {} } }),
      }),
    );
    rss.push(await trainedRss(file, join(dir, name)));
  }
  const [withLarge, withSmall] = rss;
  // Decoding whole 12 MP images would hold 36 MB per decode thread on top of the small run's peak.
  assert.ok(
    withLarge - withSmall < 40 * 2 ** 20,
    `peak RSS with 12 MP photos ${(withLarge / 2 ** 20).toFixed(0)} MiB vs ${(withSmall / 2 ** 20).toFixed(0)} MiB`,
  );
});

/** TFRecord shards of tf.train.Example, written by Python TensorFlow the way TF's ImageNet scripts do (1-based). */
const PYTHON_SHARDS = `
import sys, os, tensorflow as tf
folder, out, prefix, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
classes = sorted(os.listdir(folder))
files = [(os.path.join(folder, c, f), k) for k, c in enumerate(classes) for f in sorted(os.listdir(os.path.join(folder, c)))]
os.makedirs(out, exist_ok=True)
writers = [tf.io.TFRecordWriter(os.path.join(out, f'{prefix}-{i:05d}-of-{count:05d}')) for i in range(count)]
for n, (path, label) in enumerate(files):
    feature = {'image/encoded': tf.train.Feature(bytes_list=tf.train.BytesList(value=[open(path, 'rb').read()])),
               'image/class/label': tf.train.Feature(int64_list=tf.train.Int64List(value=[label + 1]))}
    writers[n % count].write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
for w in writers: w.close()
`;

async function tfrecordShards(): Promise<string> {
  const photos = await photoFolder({ classes: 4, train: 40, val: 16 });
  const out = await tempDir('tfrecord');
  const env = { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' };
  await run(PYTHON, ['-c', PYTHON_SHARDS, join(photos, 'train'), out, 'train', '4'], { env });
  await run(PYTHON, ['-c', PYTHON_SHARDS, join(photos, 'val'), out, 'validation', '1'], { env });
  return out;
}

test('TFRecord shards written by Python TF train, with a deterministic, resumable record order', async () => {
  const shards = await tfrecordShards();
  const dataset = {
    format: 'tfrecord' as const,
    path: join(shards, 'train-*'),
    valPath: join(shards, 'validation-*'),
    labelOffset: 1,
  };
  const task = Task.parse({ dataset, augment: { flip: true, randomResizedCrop: {} }, input: { threads: 2 } });
  const data = await openTaskData(task, Architecture.parse(rgb(4)), 1);
  assert.equal(data.train.kind === 'records' && data.train.count, 40);
  assert.equal(data.validation.kind === 'records' && data.validation.count, 16);

  const architecture = Architecture.parse(rgb(4));
  const pass = async (epoch: number, startBatch = 0) => {
    const input = splitInput(data.train, { tf, architecture, task, batchSize: 8, form: 'raw' }, true);
    const out: { pixels: Uint8Array; labels: Int32Array }[] = [];
    try {
      for await (const { batch } of input.epoch({ shuffle: { seed: 2, epoch }, startBatch })) {
        out.push({ pixels: pixelsOf(batch.xs), labels: Int32Array.from(batch.ys.dataSync()) });
        tf.dispose([batch.xs, batch.ys]);
      }
    } finally {
      input.dispose();
    }
    return out;
  };
  const whole = await pass(0);
  assert.equal(whole.length, 5);
  const labels = whole.flatMap((b) => [...b.labels]);
  assert.deepEqual([...new Set(labels)].sort(), [0, 1, 2, 3], 'labels 1–4 read back as classes 0–3');
  assert.deepEqual(await pass(0), whole, 'the same (seed, epoch) reads the same records, cropped the same');
  assert.deepEqual(await pass(0, 3), whole.slice(3), 'a resumed epoch skips its finished batches');
  assert.notDeepEqual(
    (await pass(1)).map((b) => [...b.labels]),
    whole.map((b) => [...b.labels]),
    'another epoch, another order',
  );

  const result = await trainCandidate(spec('tfrecord', dataset), await tempDir('tfrecord-out'));
  assert.equal(result.epochs.length, 1);
  assert.ok(result.inputWaitFraction !== undefined);

  await assert.rejects(
    trainCandidate(spec('offset', { ...dataset, labelOffset: 0 }), await tempDir('offset-out')),
    (err) => {
      assert.ok(err instanceof DatasetError, String(err));
      assert.match(err.message, /image\/class\/label minus labelOffset 0 is not a class 0\.\.3/);
      return true;
    },
  );
});

test("the eager engine's normalized batches are the raw ones scaled as the training graph scales them", async () => {
  const photos = await photoFolder({ classes: 4, train: 8, val: 4 });
  const index = await indexImageFolder(join(photos, 'train'));
  const pipeline = ImagePipeline.create(tf, {
    resolution: 32,
    channels: 3,
    classes: 4,
    batchSize: 8,
    threads: 1,
    prefetch: 1,
    decode: 'jpeg',
    crop: { kind: 'center', fraction: 0.875 },
    flip: false,
    interpolation: 'bilinear',
    skipErrors: false,
    source: { kind: 'files' },
  });
  const pass = {
    kind: 'files' as const,
    paths: Array.from({ length: 8 }, (_, i) => index.pathBytes(i)),
    labels: Int32Array.from({ length: 8 }, (_, i) => index.label(i)),
    seeds: new Int32Array(16),
  };
  pipeline.start(pass);
  const raw = pipeline.next('raw');
  pipeline.start(pass);
  const normalized = pipeline.next('normalized');
  assert.ok(raw && normalized);
  const pixels = pixelsOf(raw.images);
  const floats = normalized.images.dataSync();
  let worst = 0;
  pixels.forEach((p, i) => (worst = Math.max(worst, Math.abs(p * RAW_PIXEL.scale - RAW_PIXEL.offset - floats[i]))));
  assert.ok(worst < 1e-6, `off by ${worst}`);
  assert.deepEqual([...(normalized.classIds ?? [])], [...pass.labels]);
  const oneHot = normalized.labels.arraySync() as number[][];
  assert.deepEqual(
    oneHot.map((row) => row.indexOf(1)),
    [...pass.labels],
  );
  tf.dispose([raw.images, raw.labels, normalized.images, normalized.labels]);
  pipeline.dispose();
});
