import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { trainCandidate } from '../../../trainer/train.js';
import { fashionSpec, tempDir, tinyArchitecture } from './helpers.js';

/**
 * The same candidate, spec and seed give the same score and the same weights on the same machine, with every
 * source of randomness in play: initialization, shuffling, flip and crop augmentation, dropout and drop-connect.
 * Both engines seed their masks by (seed, layer, step): the graph engine with stateless random ops, the eager one
 * by seeding each tfjs-layers mask before the step.
 */
for (const engine of ['graph', 'eager'] as const) {
  test(`two ${engine}-engine trainings of one spec and seed end with identical scores and weights`, async () => {
    const spec = fashionSpec(`determinism-${engine}`, {
      architecture: tinyArchitecture({ dropout: 0.2, dropConnect: 0.2 }),
      task: { dataset: { format: 'fashion-mnist' }, trainLimit: 256, valLimit: 128, augment: { flip: true, crop: 2 } },
      training: { epochs: 2, batchSize: 32, learningRate: 3e-3, seed: 11, optimizer: 'adam' },
    });
    const [a, b] = [await tempDir(`det-${engine}-a`), await tempDir(`det-${engine}-b`)];
    const first = await trainCandidate(spec, a, { engine });
    const second = await trainCandidate(spec, b, { engine });
    assert.equal(first.engine, engine);
    assert.deepEqual(
      second.epochs.map((e) => [e.trainLoss, e.valLoss, e.valAccuracy]),
      first.epochs.map((e) => [e.trainLoss, e.valLoss, e.valAccuracy]),
    );
    assert.equal(second.score, first.score);
    const weights = (dir: string) => readFile(join(dir, 'model', 'weights.bin'));
    assert.ok((await weights(a)).equals(await weights(b)), 'the saved weights are byte for byte the same');

    const c = await tempDir(`det-${engine}-c`);
    await trainCandidate({ ...spec, training: { ...spec.training, seed: 12 } }, c, { engine });
    assert.ok(!(await weights(a)).equals(await weights(c)), 'another seed trains otherwise');
  });
}
