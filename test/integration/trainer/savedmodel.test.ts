import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exportSavedModel } from '../../../trainer/graph/export.js';
import { loadModel, savedMetadata } from '../../../trainer/model-io.js';
import { preprocessImages } from '../../../trainer/preprocess.js';
import { loadNativeTf } from '../../../trainer/tf.js';
import { trainCandidate } from '../../../trainer/train.js';
import { fashionSpec, tempDir, tinyArchitecture } from './helpers.js';
import { photoFolder } from './photos.js';

type Tensor = import('@tensorflow/tfjs-node').Tensor;
type Tensor4D = import('@tensorflow/tfjs-node').Tensor4D;

const tf = loadNativeTf();
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** Python TensorFlow 2.21 from the virtualenv `infra/setup.sh --for-tests` provisions. */
function python(): string {
  return execFileSync('bash', [join(repo, 'infra', 'setup-tf-python.sh')], { encoding: 'utf8' }).trim();
}

async function predictInPython(modelDir: string, images: Tensor): Promise<{ tfVersion: string; values: number[] }> {
  const file = join(await tempDir('savedmodel-images'), 'images.json');
  await writeFile(file, JSON.stringify({ shape: images.shape, values: Array.from(images.dataSync()) }));
  const script = join(repo, 'test', 'integration', 'trainer', 'load_savedmodel.py');
  const out = execFileSync(python(), [script, modelDir, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { tfVersion: string; values: number[] };
}

test('a trained candidate exports a SavedModel that Python TensorFlow loads and predicts with as effscale does', async () => {
  const out = await tempDir('savedmodel');
  const spec = fashionSpec('savedmodel', {
    architecture: tinyArchitecture({ dropout: 0.2, dropConnect: 0.2 }),
    task: { dataset: { format: 'fashion-mnist' }, trainLimit: 256, valLimit: 64 },
  });
  const result = await trainCandidate(spec, join(out, 'run'));
  const exported = join(out, 'export', '1');
  await exportSavedModel(tf, result.modelUri, exported);

  // Raw 0–255 images, one batch at the network's resolution and one at another size (the graph resizes).
  for (const size of [28, 36]) {
    const raw = tf.floor(tf.randomUniform([5, size, size, 1], 0, 256, 'float32', size)) as Tensor4D;
    const model = await loadModel(tf, result.modelUri);
    const expected = tf.tidy(
      () => model.predict(preprocessImages(tf, raw, { resolution: 28, inputChannels: 1 })) as Tensor,
    );
    const fromPython = await predictInPython(exported, raw);
    assert.equal(fromPython.tfVersion, '2.21.0');
    const wanted = Array.from(expected.dataSync());
    assert.equal(fromPython.values.length, wanted.length);
    const diff = Math.max(...wanted.map((v, i) => Math.abs(v - fromPython.values[i])));
    assert.ok(diff < 1e-4, `${size}×${size}: Python predictions differ from effscale's by ${diff}`);
    // The probabilities are a real prediction, not a constant: rows differ and sum to one.
    assert.ok(Math.abs(wanted.slice(0, 10).reduce((a, b) => a + b, 0) - 1) < 1e-4);
    assert.notDeepEqual(fromPython.values.slice(0, 10), fromPython.values.slice(10, 20));
    tf.dispose([raw, expected]);
    model.dispose();
  }

  // tfjs-node's own SavedModel loader reads the same file, by its serving signature.
  const loaded = await tf.node.loadSavedModel(exported, ['serve'], 'serving_default');
  const meta = await tf.node.getMetaGraphsFromSavedModel(exported);
  assert.deepEqual(Object.keys(meta[0].signatureDefs), ['serving_default']);
  loaded.dispose();
  assert.ok((await readFile(join(exported, 'saved_model.pb'))).length > 1000);
});

test('a model trained on image files exports its validation crop: Python predicts non-square images as effscale does', async () => {
  const photos = await photoFolder({ classes: 2, train: 16, val: 4 });
  const out = await tempDir('savedmodel-photos');
  const spec = fashionSpec('savedmodel-photos', {
    architecture: tinyArchitecture({ inputChannels: 3, classes: 2 }),
    task: { dataset: { format: 'image-folder', path: join(photos, 'train'), valPath: join(photos, 'val') } },
    training: { epochs: 1, batchSize: 8, learningRate: 3e-3, seed: 1 },
  });
  const result = await trainCandidate(spec, join(out, 'run'));
  const exported = join(out, 'export', '1');
  await exportSavedModel(tf, result.modelUri, exported);
  const model = await loadModel(tf, result.modelUri);
  const { cropPct } = savedMetadata(model);
  assert.equal(cropPct, 0.875, 'the trainer saved the crop its validation used');
  // Landscape and portrait, neither at the network's resolution: the crop takes the middle of each.
  for (const [height, width] of [
    [40, 64],
    [72, 48],
  ]) {
    const raw = tf.floor(tf.randomUniform([3, height, width, 3], 0, 256, 'float32', height)) as Tensor4D;
    const expected = tf.tidy(
      () => model.predict(preprocessImages(tf, raw, { resolution: 28, inputChannels: 3, cropPct })) as Tensor,
    );
    const uncropped = tf.tidy(
      () => model.predict(preprocessImages(tf, raw, { resolution: 28, inputChannels: 3 })) as Tensor,
    );
    const fromPython = await predictInPython(exported, raw);
    const wanted = Array.from(expected.dataSync());
    const diff = Math.max(...wanted.map((v, i) => Math.abs(v - fromPython.values[i])));
    assert.ok(diff < 1e-4, `${height}×${width}: Python predictions differ from effscale's by ${diff}`);
    const other = Array.from(uncropped.dataSync());
    assert.ok(
      Math.max(...other.map((v, i) => Math.abs(v - fromPython.values[i]))) > 1e-3,
      'the crop changes the prediction (else this test could not see it missing)',
    );
    tf.dispose([raw, expected, uncropped]);
  }
  model.dispose();
});

test('a model without the effscale architecture in its metadata is refused with the reason', async () => {
  const out = await tempDir('savedmodel-legacy');
  const result = await trainCandidate(
    fashionSpec('legacy', { task: { dataset: { format: 'fashion-mnist' }, trainLimit: 64, valLimit: 32 } }),
    out,
  );
  const modelJson = join(new URL(result.modelUri).pathname, 'model.json');
  const json = JSON.parse(await readFile(modelJson, 'utf8')) as { userDefinedMetadata: { effscale: object } };
  json.userDefinedMetadata.effscale = {};
  await writeFile(modelJson, JSON.stringify(json));
  await assert.rejects(exportSavedModel(tf, result.modelUri, join(out, 'export')), /carries no effscale architecture/);
});
