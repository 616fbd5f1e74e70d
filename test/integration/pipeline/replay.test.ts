import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { workflowsPath } from '../../../worker/worker.js';
import { historiesRoot, historyFromFixture, workflowBundle } from './harness.js';

/**
 * Every release's recorded histories (test/fixtures/histories/<release>/) replay against the current workflow code,
 * except the releases retired.json lists: a change that breaks one needs a patch (docs/upgrading.md), or retiring
 * that release, whose searches then finish on their own pinned build.
 */

interface Retired {
  releases: string[];
}

async function claimedReleases(): Promise<string[]> {
  const retired = JSON.parse(await readFile(join(historiesRoot, 'retired.json'), 'utf8')) as Retired;
  const entries = await readdir(historiesRoot, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && !retired.releases.includes(e.name)).map((e) => e.name);
}

async function histories(release: string): Promise<{ name: string; history: unknown }[]> {
  const dir = join(historiesRoot, release);
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) throw new Error(`no recorded histories in ${dir}`);
  return Promise.all(
    files.map(async (f) => ({
      name: `${release}/${f}`,
      history: historyFromFixture(await readFile(join(dir, f), 'utf8')),
    })),
  );
}

test("every claimed release's search histories replay deterministically", async (t) => {
  const releases = await claimedReleases();
  assert.ok(releases.includes('0.1.0'), 'the first release is still claimed');
  const bundle = await workflowBundle();
  for (const release of releases) {
    for (const { name, history } of await histories(release)) {
      await t.test(name, () => Worker.runReplayHistory({ workflowBundle: bundle }, history, name));
    }
  }
});

test('a workflow change that breaks replay fails the replay of recorded histories', async () => {
  const incompatible = await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: [fileURLToPath(new URL('./incompatible-change.js', import.meta.url))],
    logger: new DefaultLogger('ERROR'),
  });
  const [first] = await histories('0.1.0');
  await assert.rejects(
    Worker.runReplayHistory({ workflowBundle: incompatible }, first.history, first.name),
    (err: Error) => err.name === 'DeterminismViolationError',
  );
});
