import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { disruptionsOf, type SearchResult } from '../../../search/state.js';
import {
  candidateTable,
  createTestWorker,
  retrainedAfterFinish,
  runs,
  start,
  testSpec,
  trainingsOf,
  until,
  withTestServer,
} from './harness.js';

const env = withTestServer();
const slowTrainer = fileURLToPath(new URL('../../fixtures/trainers/slow-noop.js', import.meta.url));
const root = process.getuid?.() === 0;

test(
  'the worker’s disk fills up mid-search: trainings wait as disruptions, and once space is freed the search completes with nothing lost',
  { skip: !root && 'mounting a small tmpfs as the state volume needs root' },
  async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'effscale-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', stateDir]);
    const filler = join(stateDir, 'filler');
    process.env.SLOW_SECONDS = '1';
    try {
      const worker = await createTestWorker(env().nativeConnection, { stateDir });
      const spec = testSpec('disk-full', {
        execution: {
          parallelism: 2,
          retries: 0,
          failureBudget: 0,
          heartbeatTimeout: '20s',
          local: { noop: true, trainer: [process.execPath, slowTrainer] },
        },
      });
      const { handle, workflowId } = await start(env().client, spec);
      const result: SearchResult = await worker.runUntil(async () => {
        const finished = async () => (await runs(stateDir, workflowId)).filter((r) => r.event === 'finish').length;
        await until('two trainings to finish', async () => (await finished()) >= 2);
        // The volume full to the last byte, and kept full (what a failed write frees is taken again): every
        // write of the worker and of its trainers fails with ENOSPC.
        const fill = () => appendFile(filler, Buffer.alloc(64 << 10)).catch(() => undefined);
        await writeFile(filler, Buffer.alloc(8 << 20)).catch(() => undefined);
        const hog = setInterval(() => void fill(), 20);
        const full = await finished();
        await new Promise((r) => setTimeout(r, 6000));
        // At most the trainings already writing their last line (it fits the runs log's last page) finish.
        assert.ok((await finished()) <= full + 2, 'the search stood still while the disk was full');
        clearInterval(hog);
        await rm(filler);
        // A failed search says why in its cause: shown in full, it is the story of the test's failure.
        return handle.result().catch((err: Error) => {
          throw new Error(`the search failed: ${err.cause instanceof Error ? err.cause.message : String(err)}`);
        });
      });
      assert.equal(result.status, 'completed');
      const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
      assert.ok(
        trainings.every((t) => t.state === 'succeeded'),
        'no training failed: none counted',
      );
      assert.ok(disruptionsOf(result.state).count >= 1, 'the trainings the full disk stopped are reported');
      assert.deepEqual(retrainedAfterFinish(await runs(stateDir, workflowId)), [], 'no finished training lost');
    } finally {
      delete process.env.SLOW_SECONDS;
      execFileSync('umount', ['-l', stateDir]);
      await rm(stateDir, { recursive: true, force: true });
    }
  },
);
