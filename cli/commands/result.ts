import type { Command } from 'commander';
import { UsageError } from '../run.js';
import { connectionOptions, type ConnectionFlags } from './common.js';

export function registerResult(program: Command): void {
  connectionOptions(
    program
      .command('result')
      .description("a finished (or cancelled) search's result; waits while it runs")
      .argument('<id>', 'workflow id of the search')
      .option('--json', 'print JSON'),
  ).action(async (id: string, flags: ConnectionFlags & { json?: boolean }) => {
    // Loaded on use: `effscale train` (one process per candidate) must start fast.
    const { followSearch } = await import('../../worker/follow.js');
    const { humanSummary, resultDocument } = await import('../../worker/output.js');
    const { openSession, workflowUiUrl } = await import('../../worker/session.js');
    const session = await openSession(flags);
    try {
      const outcome = await followSearch(session.client.workflow.getHandle(id), () => undefined, session.stateDir);
      if (!outcome.result) throw new UsageError(`search ${id} has no result: ${outcome.error ?? 'unknown'}`);
      const doc = resultDocument(outcome.result, {
        workflowId: id,
        ui: workflowUiUrl(session, id),
        address: session.address,
      });
      console.log(flags.json ? JSON.stringify(doc, null, 2) : humanSummary(doc));
      if (outcome.error) {
        console.error(`effscale: search ${id} failed: ${outcome.error}`);
        process.exitCode = 1;
      }
    } finally {
      await session.close();
    }
  });
}
