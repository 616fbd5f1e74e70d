import { test } from 'node:test';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromFixture, workflowBundle } from './harness.js';

/** Recorded search histories (test/fixtures/histories) must replay against the current workflow code. */
const dir = fileURLToPath(new URL('../../../../test/fixtures/histories/', import.meta.url));

test('committed search histories replay deterministically', async (t) => {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
  if (files.length === 0) throw new Error(`no recorded histories in ${dir}`);
  const bundle = await workflowBundle();
  for (const file of files) {
    await t.test(file, async () => {
      const history = historyFromFixture(await readFile(join(dir, file), 'utf8'));
      await Worker.runReplayHistory({ workflowBundle: bundle }, history, file.replace(/\.json$/, ''));
    });
  }
});
