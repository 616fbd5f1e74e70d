import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { SpecError } from '../../../scaling/validate.js';
import { DatasetError } from '../../../trainer/data/source.js';
import { loadNativeTf } from '../../../trainer/tf.js';
import { trainCandidate } from '../../../trainer/train.js';
import { fashionSpec, tempDir, tinyArchitecture } from './helpers.js';

const tf = loadNativeTf();
const FASHION = '/usr/share/datasets/fashion-mnist';

function idxImages(count: number, side = 28): Uint8Array {
  const out = new Uint8Array(16 + count * side * side);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x803);
  view.setUint32(4, count);
  view.setUint32(8, side);
  view.setUint32(12, side);
  for (let i = 16; i < out.length; i++) out[i] = (i * 31) % 256;
  return out;
}

function idxLabels(count: number): Uint8Array {
  const out = new Uint8Array(8 + count);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x801);
  view.setUint32(4, count);
  for (let i = 0; i < count; i++) out[8 + i] = i % 10;
  return out;
}

async function idxFolder(files: Record<string, Uint8Array>): Promise<string> {
  const dir = await tempDir('idx');
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
  return dir;
}

async function rejectsBeforeTraining(specInput: unknown, kind: typeof SpecError | typeof DatasetError, text: RegExp) {
  const out = await tempDir('bad');
  await assert.rejects(trainCandidate(specInput, out), (err) => {
    assert.ok(err instanceof kind, `expected ${kind.name}, got ${String(err)}`);
    assert.match(err.message, text);
    return true;
  });
  await assert.rejects(stat(join(out, 'result.json')), 'no result is written for bad input');
  await assert.rejects(stat(join(out, 'checkpoint')), 'no training started');
}

const idxSpec = (path: string) => fashionSpec('idx', { task: { dataset: { format: 'idx', path } } });

test('an invalid spec names every bad field', async () => {
  const spec = fashionSpec('bad');
  await rejectsBeforeTraining(
    { ...spec, training: { epochs: 0, optimizer: 'lion' } },
    SpecError,
    /training\.epochs[\s\S]*training\.optimizer/,
  );
});

test('a resolution too small for the strides is refused', async () => {
  const arch = tinyArchitecture({
    resolution: 8,
    stem: { filters: 16, kernel: 3, stride: 2 },
    stages: [
      { op: 'mbconv', repeats: 1, kernel: 3, stride: 2, expandRatio: 2, filters: 16 },
      { op: 'conv', repeats: 1, kernel: 3, stride: 4, filters: 32 },
    ],
  });
  await rejectsBeforeTraining(
    fashionSpec('small', { architecture: arch }),
    SpecError,
    /resolution: 8 px is too small .*total stride 16/,
  );
});

test('a missing dataset folder and missing files are named', async () => {
  await rejectsBeforeTraining(idxSpec('/nonexistent/fashion'), DatasetError, /\/nonexistent\/fashion does not exist/);
  const dir = await idxFolder({ 'train-images-idx3-ubyte': idxImages(10), 'train-labels-idx1-ubyte': idxLabels(10) });
  await rejectsBeforeTraining(idxSpec(dir), DatasetError, /missing t10k-images-idx3-ubyte/);
});

test('label and image counts that differ are refused', async () => {
  const dir = await idxFolder({
    'train-images-idx3-ubyte': idxImages(10),
    'train-labels-idx1-ubyte': idxLabels(9),
    't10k-images-idx3-ubyte': idxImages(4),
    't10k-labels-idx1-ubyte': idxLabels(4),
  });
  await rejectsBeforeTraining(idxSpec(dir), DatasetError, /9 labels but .*train-images-idx3-ubyte has 10 images/);
});

test('corrupt and truncated dataset files are refused', async () => {
  const labels = idxLabels(4);
  const truncated = idxImages(4).slice(0, 100);
  const dir = await idxFolder({
    'train-images-idx3-ubyte.gz': new Uint8Array(Buffer.from('this is not gzip')),
    'train-labels-idx1-ubyte': labels,
    't10k-images-idx3-ubyte': truncated,
    't10k-labels-idx1-ubyte': labels,
  });
  await rejectsBeforeTraining(idxSpec(dir), DatasetError, /train-images-idx3-ubyte\.gz: not a readable gzip file/);
  await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idxImages(4)));
  await rejectsBeforeTraining(idxSpec(dir), DatasetError, /t10k-images-idx3-ubyte: header says 4 images/);
  await writeFile(join(dir, 't10k-images-idx3-ubyte'), idxLabels(40));
  await rejectsBeforeTraining(idxSpec(dir), DatasetError, /not an IDX image file/);
});

test('labels beyond the architecture classes are refused', async () => {
  const arch = tinyArchitecture({ classes: 5 });
  await rejectsBeforeTraining(fashionSpec('classes', { architecture: arch }), DatasetError, /label 9 .* 5 classes/);
});

async function pngFolder(): Promise<string> {
  const dir = await tempDir('png');
  // Two visually distinct classes: bright top half vs bright left half, RGB, of varying sizes.
  for (const [c, name] of ['horizontal', 'vertical'].entries()) {
    await mkdir(join(dir, name));
    for (let i = 0; i < 24; i++) {
      const h = 20 + (i % 3) * 4;
      const w = 24;
      const image = tf.tidy(() => {
        const ys = tf.range(0, h).reshape([h, 1, 1]).tile([1, w, 3]);
        const xs = tf.range(0, w).reshape([1, w, 1]).tile([h, 1, 3]);
        const mask = c === 0 ? tf.less(ys, h / 2) : tf.less(xs, w / 2);
        return tf.where(mask, tf.fill([h, w, 3], 200 + (i % 50)), tf.fill([h, w, 3], 20 + i)).toInt();
      });
      await writeFile(
        join(dir, name, `${i}.png`),
        await tf.node.encodePng(image as import('@tensorflow/tfjs-node').Tensor3D),
      );
      image.dispose();
    }
  }
  return dir;
}

test('an image folder of generated PNGs loads, trains and is split for validation', async () => {
  const dir = await pngFolder();
  const out = await tempDir('png-train');
  const spec = {
    id: 'png',
    architecture: tinyArchitecture({ classes: 2, inputChannels: 3, resolution: 32 }),
    task: { dataset: { format: 'image-folder', path: dir }, validationSplit: 0.25 },
    training: { epochs: 3, batchSize: 8, learningRate: 3e-3, seed: 2 },
  };
  const result = await trainCandidate(spec, out);
  assert.equal(result.epochs.length, 3);
  assert.ok(result.score >= 0 && result.score <= 1);
  const model = JSON.parse(await readFile(join(out, 'model', 'model.json'), 'utf8')) as {
    userDefinedMetadata: { effscale: { classNames: string[] } };
  };
  assert.deepEqual(model.userDefinedMetadata.effscale.classNames, ['horizontal', 'vertical']);

  await writeFile(join(dir, 'vertical', 'broken.png'), 'not an image');
  await rejectsBeforeTraining(
    { ...spec, id: 'broken' },
    DatasetError,
    /vertical\/broken\.png: not a JPEG\/PNG\/GIF\/BMP\/WebP image/,
  );
  await rm(join(dir, 'vertical', 'broken.png'));
  await rejectsBeforeTraining(
    { ...spec, architecture: tinyArchitecture({ classes: 3 }) },
    DatasetError,
    /2 class folders \(horizontal, vertical\) but architecture\.classes is 3/,
  );
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/effscale.js', 'train', ...args], (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

test('the CLI exits 2 with one clean message on bad input, and noop prints a result fast', async () => {
  const dir = await tempDir('cli');
  const specPath = join(dir, 'spec.json');
  await writeFile(specPath, JSON.stringify({ ...fashionSpec('cli'), training: { batchSize: 0 } }));
  const bad = await cli(['--spec', specPath, '--out', join(dir, 'out')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /training\.batchSize/);
  assert.doesNotMatch(bad.stderr, /at .*\.js:\d+/, 'no stack trace');

  const missing = await cli(['--preset', 'micro-28', '--dataset', 'idx', '--data-path', '/nonexistent', '--json']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /\/nonexistent does not exist/);

  await writeFile(specPath, JSON.stringify(fashionSpec('cli')));
  const termination = join(dir, 'termination-log');
  const noop = await cli([
    '--spec',
    specPath,
    '--out',
    join(dir, 'noop'),
    '--noop',
    '--json',
    '--termination-log',
    termination,
  ]);
  assert.equal(noop.code, 0, noop.stderr);
  const result = JSON.parse(noop.stdout) as { backend: string; score: number };
  assert.equal(result.backend, 'noop');
  const compact = await readFile(termination, 'utf8');
  assert.ok(compact.length < 4096);
  assert.equal((JSON.parse(compact) as { score: number }).score, result.score);
  await copyFile(specPath, join(dir, 'copy.json'));
});

test('the fashion-mnist default path is the Debian package location', async () => {
  await stat(join(FASHION, 'train-images-idx3-ubyte.gz'));
});
