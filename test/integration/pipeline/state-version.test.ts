import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extendFinished, searchOptionsOf } from '../../../client/search.js';
import type { SearchResult } from '../../../search/state.js';
import { STATE_VERSION } from '../../../search/state-version.js';
import {
  createTestWorker,
  retrainedAfterFinish,
  runs,
  searchDirOf,
  start,
  tempStateDir,
  testSpec,
  withTestServer,
} from './harness.js';

const env = withTestServer();
const release010 = fileURLToPath(
  new URL('../../../../test/fixtures/state/0.1.0/summary-completed.json', import.meta.url),
);

test('a search whose summary.json an earlier release wrote is extended by this one without retraining', async () => {
  const stateDir = await tempStateDir('state-version');
  const spec = testSpec('state-version');
  const { handle, workflowId } = await start(env().client, spec);
  const first: SearchResult = await (
    await createTestWorker(env().nativeConnection, { stateDir })
  ).runUntil(handle.result());
  assert.equal(first.state.stateVersion, STATE_VERSION);

  // The summary as effscale 0.1.0 wrote it: the same fields as that release's own summary, no version.
  const file = join(searchDirOf(stateDir, workflowId), 'summary.json');
  const summary = JSON.parse(await readFile(file, 'utf8')) as SearchResult;
  const { stateVersion: _v, builds: _b, ...older } = summary.state;
  const fixture = JSON.parse(await readFile(release010, 'utf8')) as SearchResult;
  assert.deepEqual(Object.keys(older).sort(), Object.keys(fixture.state).sort());
  await writeFile(file, JSON.stringify({ ...summary, state: older }));

  const next = await extendFinished(
    env().client,
    workflowId,
    { options: await searchOptionsOf(handle) },
    { phis: [3] },
  );
  const extended: SearchResult = await (
    await createTestWorker(env().nativeConnection, { stateDir })
  ).runUntil(next.result());
  assert.equal(extended.status, 'completed');
  assert.equal(extended.state.stateVersion, STATE_VERSION);
  assert.equal(extended.state.runs, 2);
  assert.deepEqual(
    extended.state.family.map((m) => m.phi),
    [1, 2, 3],
  );
  assert.deepEqual(extended.best, first.best);
  assert.deepEqual(retrainedAfterFinish(await runs(stateDir, workflowId)), []);
});
