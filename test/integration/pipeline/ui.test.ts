import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ensureDevServer } from '../../../client/dev-server.js';
import type { SearchResult } from '../../../search/state.js';
import { quietWorkerLogs } from '../../../worker/worker.js';
import { launchChromium } from '../../chromium.js';
import {
  candidateTable,
  createTestWorker,
  InProcessNoop,
  start,
  tempStateDir,
  testSpec,
  trainingsOf,
} from './harness.js';
import { chunkWorkflowId } from '../../../search/ids.js';

quietWorkerLogs();

/**
 * An auditor reads a search in the Temporal UI: every training bar of the timeline says which α, β, γ (or which
 * φ) it trained. Checked in the real UI the dev server serves, in headless Chromium; the screenshots stay in the
 * state directory.
 */
test('the Temporal UI timeline names the α, β, γ of every training and the φ of the finalist', async () => {
  const stateDir = await tempStateDir('ui');
  const server = await ensureDevServer(stateDir);
  const connection = await NativeConnection.connect({ address: server.address });
  const browser = await launchChromium();
  try {
    const client = new Client({ connection: server.connection });
    const spec = testSpec('ui', { execution: { parallelism: 2, local: { noop: true } } });
    const worker = await createTestWorker(connection, { stateDir, executorFor: () => new InProcessNoop() });
    const { handle, workflowId } = await start(client, spec);
    const result: SearchResult = await worker.runUntil(handle.result());
    assert.equal(result.status, 'completed');

    const timeline = async (id: string, shot: string) => {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
      await page.goto(`${server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(id)}`);
      await page.getByText('trainCandidate •').first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: join(stateDir, shot), fullPage: true });
      const labels = await page.getByText('trainCandidate •').allInnerTexts();
      await page.close();
      return labels;
    };
    const bars = await timeline(chunkWorkflowId(workflowId, 0), 'chunk-0.png');
    const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
    assert.deepEqual(
      [...bars].sort(),
      trainings.map((t) => `trainCandidate • search α=${t.alpha} β=${t.beta} γ=${t.gamma}`).sort(),
    );
    const finalist = result.state.family.find((m) => result.state.finals.some((f) => f.member === m.name));
    assert.deepEqual(await timeline(workflowId, 'search.png'), [
      `trainCandidate • final φ=${finalist?.phi} (${finalist?.name})`,
    ]);
  } finally {
    await browser.close();
    await connection.close();
    await server.stop();
  }
});
