import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { photoFolder } from '../integration/trainer/photos.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../../bin/effscale.js', import.meta.url));
const quick = fileURLToPath(new URL('../../../examples/quick.yaml', import.meta.url));

/** The quick example, cut down further (fewer images and grid points): the same path, real training. */
async function smallSpec(dir: string): Promise<string> {
  const spec = parse(await readFile(quick, 'utf8'));
  spec.name = 'e2e';
  spec.task = { ...spec.task, trainLimit: 256, valLimit: 128 };
  spec.scaling.grid = {
    ...spec.scaling.grid,
    alpha: { min: 1, max: 1.1, step: 0.1 },
    beta: { min: 1, max: 1.2, step: 0.1 },
  };
  spec.final.training = { ...spec.final.training, epochs: 1 };
  const file = join(dir, 'e2e.yaml');
  await writeFile(file, JSON.stringify(spec));
  return file;
}

/** `effscale search FILE --json` to its end, parsed. */
async function searchJson(file: string, stateDir: string) {
  const { stdout } = await run(process.execPath, [cli, 'search', file, '--json', '--state-dir', stateDir], {
    maxBuffer: 16 << 20,
    timeout: 900_000,
  });
  return JSON.parse(stdout);
}

test('effscale search SPEC --json: a real search end to end on the embedded dev server', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'effscale-e2e-'));
  const file = await smallSpec(dir);
  const stateDir = join(dir, 'state');
  const out = await searchJson(file, stateDir);
  assert.equal(out.status, 'completed');
  for (const k of ['alpha', 'beta', 'gamma', 'score']) assert.equal(typeof out.best[k], 'number', `best.${k}`);
  assert.ok(out.candidates.length >= 2);
  assert.equal(out.candidatesTotal, out.candidates.length);
  assert.equal(out.leaders[0].index, out.best.candidate, 'the leaders are best first');
  for (const c of out.candidates) {
    assert.equal(c.state, 'succeeded');
    assert.ok(c.score >= 0 && c.score <= 1, 'accuracy from a real training');
  }
  assert.deepEqual(
    out.family.map((m: { phi: number }) => m.phi),
    [1, 2],
  );
  assert.ok(existsSync(join(out.registered.uri, 'model', 'model.json')), 'the trained model is registered');
  const lineage = JSON.parse(await readFile(join(out.registered.uri, 'lineage.json'), 'utf8'));
  assert.equal(lineage.searchId, out.temporal.workflowId);
  assert.match(out.temporal.ui, /^http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/effscale-e2e-/);
  const trained = JSON.parse(
    await readFile(join(stateDir, 'searches', out.temporal.workflowId, 'summary.json'), 'utf8'),
  );
  assert.equal(trained.status, 'completed');
  // Nobody else on the machine reads the specs, the histories or the models.
  const searchDir = join(stateDir, 'searches', out.temporal.workflowId);
  for (const [path, mode] of [
    [join(searchDir, 'summary.json'), 0o600],
    [join(searchDir, 'spec.json'), 0o600],
    [join(stateDir, 'temporal.sqlite'), 0o600],
    [searchDir, 0o700],
    [out.registered.uri, 0o700],
  ] as const)
    assert.equal(
      (await stat(path)).mode & 0o777,
      mode,
      `${path}: mode ${((await stat(path)).mode & 0o777).toString(8)}`,
    );

  // The same command re-attaches to the finished search: same id, same answer, nothing trained again.
  const again = JSON.parse(
    (await run(process.execPath, [cli, 'search', file, '--json', '--state-dir', stateDir])).stdout,
  );
  assert.equal(again.temporal.workflowId, out.temporal.workflowId);
  assert.deepEqual(again.best, out.best);
  const { stdout: text } = await run(process.execPath, [
    cli,
    'result',
    out.temporal.workflowId,
    '--state-dir',
    stateDir,
  ]);
  assert.match(text, /\d+ grid points, \d+ distinct trainings, \d+ excluded; best \(\* = chosen\):/);
  assert.equal(text.split('\n').filter((l) => l.startsWith('  * ')).length, 1, 'exactly one chosen candidate');
  assert.match(text, /registered e2e-phi2@v1/);
  const { stdout: models } = await run(process.execPath, [cli, 'models', 'list', '--json', '--state-dir', stateDir]);
  assert.equal(JSON.parse(models).length, 1);
});

test('a real search on a folder of photos: indexed once by the plan step, every trainer reads the index', async () => {
  const photos = await photoFolder({ classes: 4, train: 64, val: 24 });
  const dir = await mkdtemp(join(tmpdir(), 'effscale-e2e-photos-'));
  const spec = parse(await readFile(quick, 'utf8'));
  spec.name = 'photos';
  spec.baseline = { preset: 'micro-32', classes: 4 };
  spec.task = {
    dataset: { format: 'image-folder', path: join(photos, 'train'), valPath: join(photos, 'val') },
    augment: { flip: true, randomResizedCrop: {} },
  };
  spec.training = { epochs: 1, batchSize: 16 };
  spec.scaling.grid = {
    ...spec.scaling.grid,
    alpha: { min: 1, max: 1.1, step: 0.1 },
    beta: { min: 1, max: 1.1, step: 0.1 },
  };
  spec.final.training = { epochs: 1, batchSize: 16 };
  const file = join(dir, 'photos.yaml');
  await writeFile(file, JSON.stringify(spec));
  const stateDir = join(dir, 'state');
  const out = await searchJson(file, stateDir);
  assert.equal(out.status, 'completed');
  const searchDir = join(stateDir, 'searches', out.temporal.workflowId);
  const [indexDir] = await readdir(join(searchDir, 'datasets'));
  assert.match(indexDir, /^image-folder-[0-9a-f]{16}$/);
  const candidates = await readdir(join(searchDir, 'candidates'));
  assert.ok(candidates.length >= 2);
  for (const id of candidates) {
    const sent = JSON.parse(await readFile(join(searchDir, 'candidates', id, 'candidate.json'), 'utf8'));
    assert.equal(sent.task.dataset.index, join(searchDir, 'datasets', indexDir), `${id} reads the plan's index`);
    const result = JSON.parse(await readFile(join(searchDir, 'candidates', id, 'result.json'), 'utf8'));
    assert.ok(result.inputWaitFraction >= 0 && result.inputWaitFraction < 1, `${id}: trained through the pipeline`);
    assert.ok(result.epochs[0].imagesPerSecond > 0);
  }
});
