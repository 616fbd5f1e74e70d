import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureDevServer } from '../../../client/dev-server.js';
import type { SearchResult } from '../../../search/state.js';
import { readJson, startWorkerProcess, tempStateDir, testSpec } from './harness.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../../../bin/effscale.js', import.meta.url));

test('cluster mode: the client state dir stays empty; the worker keeps the search in its own store', async () => {
  const serverDir = await tempStateDir('cluster-server');
  const clientDir = await tempStateDir('cluster-client');
  const workerDir = await tempStateDir('cluster-worker');
  const server = await ensureDevServer(serverDir);
  let worker: ChildProcess | undefined;
  try {
    worker = startWorkerProcess(server.address, workerDir);
    const specFile = join(await tempStateDir('cluster-spec'), 'cluster.yaml');
    await writeFile(specFile, JSON.stringify(testSpec('cluster')));
    const flags = ['--address', server.address, '--state-dir', clientDir];
    const searched = await run(process.execPath, [cli, 'search', specFile, '--json', ...flags], { timeout: 300_000 });
    const out = JSON.parse(searched.stdout) as { status: string; temporal: { workflowId: string } };
    assert.equal(out.status, 'completed');
    const id = out.temporal.workflowId;

    // Extending a closed search needs no client filesystem either: the new run resumes from the worker's record.
    await run(process.execPath, [cli, 'extend', id, '--phi', '3', ...flags], { timeout: 60_000 });
    await run(process.execPath, [cli, 'result', id, '--json', ...flags], { timeout: 300_000 });

    const searchDir = join(workerDir, 'searches', id);
    for (const file of ['spec.json', 'table/manifest.json', 'summary.json', 'runs.jsonl'])
      assert.ok(existsSync(join(searchDir, file)), `${file} in the worker's search directory`);
    const summary = await readJson<SearchResult>(join(searchDir, 'summary.json'));
    assert.equal(summary.status, 'completed');
    assert.equal(summary.state.runs, 2, 'the extension is a second run of the same search');
    assert.deepEqual(
      summary.state.family.map((m) => m.phi),
      [1, 2, 3],
    );
    assert.ok(summary.state.registered.length > 0);
    assert.ok(existsSync(join(workerDir, 'registry')), "the default registry sits in the worker's store");
    assert.deepEqual(await readdir(clientDir), [], 'nothing written under the client state dir');
  } finally {
    worker?.kill('SIGKILL');
    await server.stop();
  }
});
