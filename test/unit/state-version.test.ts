import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { initialState, type SearchResult } from '../../search/state.js';
import { migrateState, STATE_VERSION, StateVersionError } from '../../search/state-version.js';
import { readSummary } from '../../store/search-dir.js';

/** summary.json as effscale 0.1.0 wrote it (a completed quick search): the oldest state format. */
const release010 = fileURLToPath(new URL('../../../test/fixtures/state/0.1.0/summary-completed.json', import.meta.url));

test('a 0.1.0 state reads as this release’s: versioned, its builds unknown, everything it recorded kept', async () => {
  const recorded = (JSON.parse(await readFile(release010, 'utf8')) as SearchResult).state;
  assert.equal((recorded as Partial<typeof recorded>).stateVersion, undefined);
  const state = migrateState(recorded);
  assert.equal(state.stateVersion, STATE_VERSION);
  assert.deepEqual(state.builds, []);
  const { stateVersion: _v, builds: _b, ...kept } = state;
  assert.deepEqual(kept, recorded);
  // Every field this release's state has, the migrated one has too.
  assert.deepEqual(
    Object.keys(initialState(1, 0)).filter((k) => !(k in state)),
    [],
  );
});

test('summary.json of an earlier release is migrated where the store reads it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'effscale-state-'));
  await mkdir(dir, { recursive: true });
  await copyFile(release010, join(dir, 'summary.json'));
  const summary = await readSummary(dir);
  assert.equal(summary?.state.stateVersion, STATE_VERSION);
  assert.equal(summary?.status, 'completed');
});

test('a state this release cannot read is refused by name: newer, or not a version at all', () => {
  const current = initialState(2, 0);
  assert.deepEqual(migrateState(current), current, 'the current version is read as it is');
  assert.throws(
    () => migrateState({ ...current, stateVersion: STATE_VERSION + 1 }, 'summary.json: state'),
    (err: Error) =>
      err instanceof StateVersionError &&
      err.message.startsWith(`summary.json: state: stateVersion ${STATE_VERSION + 1} was written by a newer effscale`),
  );
  assert.throws(() => migrateState({ ...current, stateVersion: '2' }), /stateVersion must be an integer ≥ 1, got "2"/);
  assert.throws(() => migrateState(null, 'carried state'), /carried state: expected an object, got null/);
});
