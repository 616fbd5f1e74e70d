import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { workflowIdFor } from '../../client/search.js';
import { SpecError } from '../../scaling/validate.js';
import { appendRun, readRuns, searchDirOf, searchPaths, writeJsonAtomic } from '../../store/search-dir.js';
import { searchSpec } from './spec.js';

const scratch = () => mkdtemp(join(tmpdir(), 'effscale-store-'));

test('a search id from workflow input names one folder under searches/, never a path out of it', () => {
  const id = workflowIdFor(searchSpec({ name: 'photos-b0' }));
  assert.equal(searchDirOf('/state', id), `/state/searches/${id}`);
  for (const bad of ['../../etc/x', 'a/b', '..', '', '.hidden', 'x'.repeat(201), 'a\\b', 'a b']) {
    assert.throws(() => searchDirOf('/state', bad), SpecError, `accepted '${bad}'`);
  }
  assert.throws(() => searchDirOf('/state', '../x'), /searchId '\.\.\/x': expected letters, digits/);
});

test('atomic JSON writes: concurrent writers of one file leave one whole document and no temporary files', async () => {
  const dir = await scratch();
  const file = join(dir, 'nested', 'summary.json');
  const docs = Array.from({ length: 20 }, (_, i) => ({ writer: i, payload: 'x'.repeat(10_000 + i) }));
  await Promise.all(docs.map((d) => writeJsonAtomic(file, d)));
  const read = JSON.parse(await readFile(file, 'utf8')) as { writer: number; payload: string };
  assert.equal(read.payload.length, 10_000 + read.writer);
  assert.deepEqual(await readdir(join(dir, 'nested')), ['summary.json']);
});

test('a line of runs.jsonl torn by a crash neither breaks reading nor swallows the next record', async () => {
  const dir = await scratch();
  const first = { event: 'launch' as const, candidateId: 'g1', attempt: 1, at: '2026-12-06T00:00:00Z' };
  const second = { event: 'finish' as const, candidateId: 'g1', attempt: 1, at: '2026-12-06T00:01:00Z' };
  await appendRun(dir, first);
  await appendFile(searchPaths(dir).runs, '{"event":"launch","candidateId":"g2","att');
  assert.deepEqual(await readRuns(dir), [first]);
  await appendRun(dir, second);
  assert.deepEqual(await readRuns(dir), [first, second]);
});
