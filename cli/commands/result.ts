import type { Command } from 'commander';
import { UsageError } from '../run.js';
import { connectionOptions, type ConnectionFlags } from './common.js';

function pageNumber(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag}: expected a whole number ≥ 0, got ${value}`);
  return n;
}

export function registerResult(program: Command): void {
  connectionOptions(
    program
      .command('result')
      .description("a finished (or cancelled) search's result; waits while it runs")
      .argument('<id>', 'workflow id of the search')
      .option('--json', 'print JSON')
      .option('--wait-worker <seconds>', 'how long a running search may have no worker before giving up', Number, 30)
      .option('--offset <n>', 'first row of the candidate table in the JSON', (v) => pageNumber('--offset', v), 0)
      .option('--limit <n>', 'rows of the candidate table in the JSON', (v) => pageNumber('--limit', v), 1000),
  ).action(
    async (
      id: string,
      flags: ConnectionFlags & { json?: boolean; offset: number; limit: number; waitWorker: number },
    ) => {
      const { followSearch } = await import('../../client/follow.js');
      const { humanSummary, resultDocument } = await import('../../client/output.js');
      const { openSession, workflowUiUrl } = await import('../../client/session.js');
      const { hasWorker, waitForWorker, workerHint } = await import('../../client/pollers.js');
      const session = await openSession(flags);
      try {
        const handle = session.client.workflow.getHandle(id);
        const { status, taskQueue } = await handle.describe();
        if (status.name === 'RUNNING' && !(await hasWorker(session.client, taskQueue))) {
          console.error(`effscale: search ${id} is running but no worker serves it: ${workerHint(id, taskQueue)}`);
          if (!(await waitForWorker(session.client, taskQueue, flags.waitWorker * 1000)))
            throw new UsageError(`search ${id}: no worker came within ${flags.waitWorker} s (--wait-worker)`);
        }
        const outcome = await followSearch(session.client, handle, () => undefined, session.stateDir);
        if (!outcome.result) throw new UsageError(`search ${id} has no result: ${outcome.error ?? 'unknown'}`);
        const temporal = { workflowId: id, ui: workflowUiUrl(session, id), address: session.address };
        const doc = resultDocument(outcome.result, temporal, outcome.table, {
          offset: flags.offset,
          limit: flags.limit,
        });
        console.log(flags.json ? JSON.stringify(doc, null, 2) : humanSummary(doc));
        if (outcome.error) {
          console.error(`effscale: search ${id} failed: ${outcome.error}`);
          process.exitCode = 1;
        }
      } finally {
        await session.close();
      }
    },
  );
}
