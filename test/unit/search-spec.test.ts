import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpecError } from '../../scaling/validate.js';
import { loadSearchSpec, specHash, workflowIdFor } from '../../client/search.js';
import { rungEpochs } from '../../schemas/search.js';

async function specFile(text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'effscale-spec-')), 'spec.yaml');
  await writeFile(file, text);
  return file;
}

async function issuesOf(text: string): Promise<string[]> {
  const file = await specFile(text);
  try {
    await loadSearchSpec(file);
  } catch (err) {
    assert.ok(err instanceof SpecError, `expected a SpecError, got ${String(err)}`);
    assert.ok(err.message.includes(file), 'the message names the file');
    return [...err.issues];
  }
  return assert.fail('the spec should have been rejected');
}

const valid = `name: ok
baseline: micro-28
task: { dataset: { format: fashion-mnist } }
`;

test('the example spec loads and gets a deterministic id from its name and hash', async () => {
  const spec = await loadSearchSpec('examples/quick.yaml');
  assert.equal(spec.name, 'quick');
  assert.equal(workflowIdFor(spec), `effscale-quick-${specHash(spec).slice(0, 10)}`);
  const again = await loadSearchSpec('examples/quick.yaml');
  assert.equal(specHash(again), specHash(spec));
  const faster = { ...again, execution: { ...again.execution, parallelism: 7 } };
  assert.equal(specHash(faster), specHash(spec), 'how a search runs does not fork it');
  const other = { ...again, training: { ...again.training, epochs: 5 } };
  assert.notEqual(specHash(other), specHash(spec));
});

test('the halving example has rungs of 1, 3 and 9 epochs and a budget; bad halving settings are named', async () => {
  const spec = await loadSearchSpec('examples/halving.yaml');
  assert.deepEqual(rungEpochs(spec), [1, 3, 9]);
  assert.equal(spec.execution.budget?.gpuHours, 1);
  const issues = await issuesOf(`${valid}training: { epochs: 2 }
scaling: { grid: { strategy: halving, halving: { minEpochs: 3, eta: 1 } } }
execution: { budget: {} }
`);
  assert.ok(
    issues.some((i) => i.includes('scaling.grid.halving.eta')),
    issues.join('\n'),
  );
  assert.ok(
    issues.some((i) => i.includes('execution.budget') && i.includes('gpuHours, wallTime')),
    issues.join('\n'),
  );
});

test('every bad field is named by its path', async () => {
  const issues = await issuesOf(`name: Bad Name
baseline: micro-28
task: { dataset: { format: mnist } }
training: { epochs: 0 }
scaling:
  grid: { alpha: { min: 1, max: 0.5, step: 0.1 }, tolerance: -1 }
  targets: {}
execution: { parallelism: 0, executor: slurm }
`);
  const text = issues.join('\n');
  for (const path of [
    'name:',
    'task.dataset.format',
    'training.epochs',
    'scaling.grid.alpha',
    'scaling.grid.tolerance',
    'scaling.targets',
    'execution.parallelism',
    'execution.executor',
  ]) {
    assert.ok(text.includes(path), `no issue names ${path}:\n${text}`);
  }
});

test('unknown fields, bad YAML, unknown presets and missing datasets are reported clearly', async () => {
  assert.ok((await issuesOf(`${valid}colour: blue\n`)).join().includes('colour'));
  await assert.rejects(loadSearchSpec(await specFile('name: [unclosed')), /not valid YAML/);
  await assert.rejects(loadSearchSpec(await specFile(valid.replace('micro-28', 'nonet'))), /unknown preset 'nonet'/);
  await assert.rejects(
    loadSearchSpec(await specFile(valid.replace('format: fashion-mnist', 'format: idx, path: /nope/data'))),
    /task\.dataset\.path: no such folder: \/nope\/data/,
  );
  await assert.rejects(loadSearchSpec('/nope/spec.yaml'), /cannot read the file/);
});

test("a search for a cluster's workers names a dataset on their volumes, not on this machine", async () => {
  const file = await specFile(valid.replace('format: fashion-mnist', 'format: idx, path: /datasets/fashion-mnist'));
  const spec = await loadSearchSpec(file, { datasetOnThisMachine: false });
  assert.equal(spec.task.dataset.path, '/datasets/fashion-mnist');
  await assert.rejects(loadSearchSpec(file), /no such folder: \/datasets\/fashion-mnist/);
});
