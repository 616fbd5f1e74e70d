import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Task } from '../../../schemas/task.js';
import { DType, GraphBuilder } from '../../../trainer/graph/graph-def.js';
import { GraphSession } from '../../../trainer/graph/session.js';
import { indexImageFolder, type ImageIndex } from '../../../trainer/data/image-index.js';
import { ImagePipeline } from '../../../trainer/data/pipeline.js';
import {
  randAugmentFunction,
  randAugmentOps,
  type RandAugmentOp,
  type RandAugmentOptions,
} from '../../../trainer/data/randaugment.js';
import { loadNativeTf } from '../../../trainer/tf.js';
import { trainCandidate } from '../../../trainer/train.js';
import { tempDir, tinyArchitecture } from './helpers.js';
import { photoFolder } from './photos.js';

const tf = loadNativeTf();
const run = promisify(execFile);
const PYTHON_TF = `${process.env.EFFSCALE_CACHE ?? `${process.env.HOME}/.cache/effscale`}/tf-python-2.21.0/bin/python`;
/** PIL, which timm's RandAugment runs, is in the system Python (photos.ts needs it too). */
const PYTHON_PIL = '/usr/bin/python3';
const R = 64;
/** Two image seeds whose sign draw is positive, then negative (the TF reference checks it). */
const SEEDS = [
  [3, 2],
  [3, 1],
];

type Image = { pixels: Uint8Array; channels: 1 | 3 };

/** A real photo at R × R: a center square of the first training JPEG, resized by tfjs. */
async function photo(): Promise<Image> {
  const folder = await photoFolder({ classes: 4, train: 8, val: 4 });
  const index = await indexImageFolder(join(folder, 'train'));
  const bytes = await readFile(new TextDecoder().decode(index.pathBytes(0)));
  const pixels = tf.tidy(() => {
    const decoded = tf.node.decodeImage(bytes, 3) as import('@tensorflow/tfjs-node').Tensor3D;
    const [h, w] = decoded.shape;
    const side = Math.min(h, w);
    const square = tf.slice(decoded, [(h - side) >> 1, (w - side) >> 1, 0], [side, side, 3]);
    return tf.image.resizeBilinear(square, [R, R]).round().clipByValue(0, 255).dataSync();
  });
  return { pixels: Uint8Array.from(pixels), channels: 3 };
}

/** PIL's `convert('L')` of an RGB image, the grayscale input. */
function gray({ pixels }: Image): Image {
  const out = new Uint8Array(pixels.length / 3);
  for (let i = 0; i < out.length; i++) {
    out[i] = (pixels[3 * i] * 19595 + pixels[3 * i + 1] * 38470 + pixels[3 * i + 2] * 7471 + 0x8000) >> 16;
  }
  return { pixels: out, channels: 1 };
}

/** One op's library function run on `image` with `seed`, through a graph that only calls it. */
function applyOp(op: RandAugmentOp, magnitude: number, image: Image, seed: number[]): Uint8Array {
  const { channels } = image;
  const graph = new GraphBuilder();
  const int32 = { type: DType.int32 };
  const input = graph.node('Placeholder', 'image', [], { dtype: int32, shape: { shape: [R, R, channels] } });
  const seedInput = graph.node('Placeholder', 'seed', [], { dtype: int32, shape: { shape: [2] } });
  const bytes = graph.node('Cast', 'bytes', [input], { SrcT: int32, DstT: { type: DType.uint8 } });
  const fn = randAugmentFunction(graph, op, { magnitude, resolution: R, channels });
  const out = graph.node(fn, 'augmented', [bytes, seedInput]);
  const levels = graph.node('Cast', 'levels', [out], { SrcT: { type: DType.uint8 }, DstT: int32 });
  const session = GraphSession.load(tf, graph.savedModel(['op'], {}), 'op');
  const feeds = [tf.tensor3d(Int32Array.from(image.pixels), [R, R, channels], 'int32'), tf.tensor1d(seed, 'int32')];
  try {
    const [result] = session.run(
      [
        [`${input}:0`, feeds[0]],
        [`${seedInput}:0`, feeds[1]],
      ],
      [`${levels}:0`],
    );
    const pixels = Uint8Array.from(result.dataSync());
    result.dispose();
    return pixels;
  } finally {
    tf.dispose(feeds);
    session.dispose();
  }
}

async function python(binary: string, script: string, input: unknown): Promise<unknown> {
  const child = run(binary, ['-c', script], {
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
    maxBuffer: 1 << 26,
  });
  child.child.stdin?.end(JSON.stringify(input));
  const { stdout } = await child;
  return JSON.parse(stdout.trim().split('\n').pop() ?? 'null');
}

/**
 * Python TF: the sign each seed draws (the same stateless op), and the affine ops as the EfficientNet reference
 * (autoaugment.py) computes them: tfa's transforms, the image wrapped with a channel of ones whose zeros mark the
 * pixels to fill with 128.
 */
const PYTHON_AFFINE = `
import sys, json, math, numpy as np, tensorflow as tf
a = json.load(sys.stdin); r, c, level = a['size'], a['channels'], a['magnitude'] / 10
image = tf.constant(np.array(a['pixels'], np.uint8).reshape(r, r, c))
def transform(matrix):
    wrapped = tf.concat([image, tf.ones([r, r, 1], tf.uint8)], 2)[None]
    moved = tf.raw_ops.ImageProjectiveTransformV3(images=wrapped, transforms=tf.constant([matrix], tf.float32),
        output_shape=[r, r], fill_value=0.0, interpolation='NEAREST', fill_mode='CONSTANT')[0]
    return tf.where(moved[:, :, c:] == 0, tf.constant(128, tf.uint8), moved[:, :, :c])
def rotate(degrees):
    angle = math.radians(degrees); cos, sin = math.cos(angle), math.sin(angle)
    return [cos, -sin, ((r - 1) - (cos * (r - 1) - sin * (r - 1))) / 2,
            sin, cos, ((r - 1) - (sin * (r - 1) + cos * (r - 1))) / 2, 0, 0]
translate = lambda dx, dy: [1, 0, -dx, 0, 1, -dy, 0, 0]
ops = {'Rotate': lambda s: rotate(s * 30 * level),
       'ShearX': lambda s: [1, s * 0.3 * level, 0, 0, 1, 0, 0, 0],
       'ShearY': lambda s: [1, 0, 0, s * 0.3 * level, 1, 0, 0, 0],
       'TranslateX': lambda s: translate(-s * 0.45 * level * r, 0),
       'TranslateY': lambda s: translate(0, -s * 0.45 * level * r)}
signs = [-1 if float(tf.raw_ops.StatelessRandomUniform(shape=[], seed=s, dtype=tf.float32)) < 0.5 else 1
         for s in a['seeds']]
print(json.dumps({'signs': signs,
                  'ops': {op: [transform(f(s)).numpy().flatten().tolist() for s in signs] for op, f in ops.items()}}))
`;

/** PIL, as timm's RandAugment (its "increasing" variants) calls it, at a given magnitude and sign. */
const PYTHON_PIL_OPS = `
import sys, json
from PIL import Image, ImageOps, ImageEnhance
a = json.load(sys.stdin); r = a['size']
image = Image.frombytes('RGB' if a['channels'] == 3 else 'L', (r, r), bytes(a['pixels']))
fill = (128,) * a['channels']
def apply(op, magnitude, sign):
    level = magnitude / 10
    if op == 'Identity': return image
    if op in ('AutoContrast', 'Equalize', 'Invert'): return getattr(ImageOps, op.lower())(image)
    if op == 'Posterize': return ImageOps.posterize(image, max(1, 4 - int(level * 4)))
    if op == 'Solarize': return ImageOps.solarize(image, max(0, 256 - int(level * 256)))
    if op in ('Color', 'Contrast', 'Brightness', 'Sharpness'):
        return getattr(ImageEnhance, op)(image).enhance(max(0.1, 1 + sign * 0.9 * level))
    if op == 'Rotate': return image.rotate(sign * 30 * level, resample=Image.NEAREST, fillcolor=fill)
    matrix = {'ShearX': (1, sign * 0.3 * level, 0, 0, 1, 0), 'ShearY': (1, 0, 0, sign * 0.3 * level, 1, 0),
              'TranslateX': (1, 0, sign * 0.45 * level * r, 0, 1, 0),
              'TranslateY': (1, 0, 0, 0, 1, sign * 0.45 * level * r)}[op]
    return image.transform(image.size, Image.AFFINE, matrix, resample=Image.NEAREST, fillcolor=fill)
print(json.dumps([list(apply(**case).tobytes()) for case in a['cases']]))
`;

const AFFINE: RandAugmentOp[] = ['Rotate', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY'];

/** Levels apart at worst, and the fraction of values that differ at all. */
function compare(ours: Uint8Array, theirs: number[]) {
  assert.equal(ours.length, theirs.length);
  let worst = 0;
  let differing = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i] - theirs[i]);
    worst = Math.max(worst, d);
    if (d > 0) differing++;
  }
  return { worst, fraction: differing / ours.length };
}

test('each RandAugment op matches PIL (timm) and the EfficientNet reference on a real photo', async () => {
  const rgb = await photo();
  for (const image of [rgb, gray(rgb)]) {
    const base = { size: R, channels: image.channels, pixels: [...image.pixels] };
    const reference = (await python(PYTHON_TF, PYTHON_AFFINE, { ...base, magnitude: 9, seeds: SEEDS })) as {
      signs: number[];
      ops: Record<string, number[][]>;
    };
    assert.deepEqual(reference.signs, [1, -1], 'the seeds draw both signs');
    const cases = randAugmentOps(image.channels).flatMap((op) =>
      [9, ...(AFFINE.includes(op) ? [] : [27])].flatMap((magnitude) =>
        SEEDS.map((seed, k) => ({ op, magnitude, seed, sign: reference.signs[k] })),
      ),
    );
    const pil = (await python(PYTHON_PIL, PYTHON_PIL_OPS, {
      ...base,
      cases: cases.map(({ op, magnitude, sign }) => ({ op, magnitude, sign })),
    })) as number[][];
    cases.forEach(({ op, magnitude, seed, sign }, k) => {
      const ours = applyOp(op, magnitude, image, seed);
      const what = `${op} at M=${magnitude}, sign ${sign}, ${image.channels} channel(s)`;
      if (AFFINE.includes(op)) {
        const efficientNet = reference.ops[op][SEEDS.indexOf(seed)];
        assert.equal(compare(ours, efficientNet).worst, 0, `${what}: the EfficientNet reference's pixels`);
        // PIL shears about pixel centres, tfa about pixel corners: a tenth of the pixels come from a neighbour.
        const { fraction } = compare(ours, pil[k]);
        assert.ok(
          fraction < (op.startsWith('Shear') ? 0.12 : 0.01),
          `${what}: ${(100 * fraction).toFixed(1)} % off PIL`,
        );
        assert.ok(compare(ours, [...image.pixels]).fraction > 0.5, `${what} moves the image`);
        return;
      }
      // PIL's autocontrast multiplies by a rounded scale, which can leave a level one lower.
      const { worst } = compare(ours, pil[k]);
      assert.ok(worst <= (op === 'AutoContrast' ? 1 : 0), `${what}: off PIL by up to ${worst} levels`);
    });
  }
});

test('AutoContrast spans 0–255 in every channel; a rotation by 0 and an op at magnitude 0 keep the image', async () => {
  const image = await photo();
  const stretched = applyOp('AutoContrast', 9, image, SEEDS[0]);
  for (let c = 0; c < 3; c++) {
    const channel = stretched.filter((_, i) => i % 3 === c);
    assert.deepEqual([Math.min(...channel), Math.max(...channel)], [0, 255], `channel ${c}`);
  }
  for (const op of ['Rotate', 'ShearX', 'TranslateY', 'Brightness', 'Sharpness', 'Solarize'] as const) {
    assert.deepEqual(applyOp(op, 0, image, SEEDS[1]), image.pixels, `${op} at magnitude 0`);
  }
});

/** One pass's pixels of `count` photos at 64 px (center crop, no flip), with or without RandAugment. */
async function pipelinePixels(
  index: ImageIndex,
  count: number,
  seedOf: (k: number) => [number, number],
  randAugment?: RandAugmentOptions,
): Promise<Uint8Array[]> {
  const pipeline = ImagePipeline.create(tf, {
    resolution: R,
    channels: 3,
    classes: 4,
    batchSize: count,
    threads: 2,
    prefetch: 1,
    decode: 'jpeg',
    crop: { kind: 'center', fraction: 0.875 },
    flip: false,
    randAugment,
    interpolation: 'bilinear',
    skipErrors: false,
    source: { kind: 'files' },
  });
  try {
    pipeline.start({
      kind: 'files',
      paths: Array.from({ length: count }, (_, k) => index.pathBytes(k)),
      labels: new Int32Array(count),
      seeds: Int32Array.from({ length: 2 * count }, (_, k) => seedOf(k >> 1)[k & 1]),
    });
    const batch = pipeline.next('raw');
    assert.ok(batch);
    const float = tf.cast(batch.images, 'float32');
    const all = Uint8Array.from(float.dataSync());
    tf.dispose([float, batch.images, batch.labels]);
    const size = R * R * 3;
    return Array.from({ length: count }, (_, k) => all.slice(k * size, (k + 1) * size));
  } finally {
    pipeline.dispose();
  }
}

test('RandAugment in the pipeline is keyed by the image seed and changes the images', async () => {
  const folder = await photoFolder({ classes: 4, train: 16, val: 4 });
  const index = await indexImageFolder(join(folder, 'train'));
  const count = index.count;
  const options = { n: 2, magnitude: 9 };
  const seeded = (epoch: number) => (k: number) => [epoch, k] as [number, number];
  const plain = await pipelinePixels(index, count, seeded(0));
  const augmented = await pipelinePixels(index, count, seeded(0), options);
  assert.deepEqual(await pipelinePixels(index, count, seeded(0), options), augmented, 'the same seeds, the same bytes');
  const other = await pipelinePixels(index, count, seeded(1), options);
  const changed = (a: Uint8Array[], b: Uint8Array[]) => a.filter((pixels, k) => compare(pixels, [...b[k]]).worst > 0);
  assert.ok(changed(other, augmented).length >= count - 2, 'other seeds draw other ops or signs');
  assert.ok(changed(augmented, plain).length >= count - 2, 'RandAugment(2, 9) changes (almost) every image');
});

test('a training with RandAugment, random-resized crops and flips runs; arrays reject RandAugment', async () => {
  const photos = await photoFolder({ classes: 4, train: 32, val: 8 });
  const result = await trainCandidate(
    {
      id: 'randaugment',
      architecture: tinyArchitecture({ classes: 4, inputChannels: 3, resolution: 32 }),
      task: {
        dataset: { format: 'image-folder', path: join(photos, 'train'), valPath: join(photos, 'val') },
        augment: { randAugment: {}, randomResizedCrop: {}, flip: true },
      },
      training: { epochs: 1, batchSize: 8, learningRate: 3e-3, seed: 5 },
    },
    await tempDir('randaugment-out'),
  );
  assert.equal(result.epochs.length, 1);
  assert.ok(result.score >= 0 && result.score <= 1);

  const parsed = Task.parse({ dataset: { format: 'image-folder', path: '/x' }, augment: { randAugment: {} } });
  assert.deepEqual(parsed.augment.randAugment, { n: 2, magnitude: 9 });
  const arrays = Task.safeParse({ dataset: { format: 'fashion-mnist' }, augment: { randAugment: {} } });
  assert.ok(!arrays.success && arrays.error.issues.some((i) => i.path.join('.') === 'augment.randAugment'));
});
