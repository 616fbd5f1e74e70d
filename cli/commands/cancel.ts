import type { Command } from 'commander';
import { connectionOptions, type ConnectionFlags } from './common.js';

export function registerCancel(program: Command): void {
  connectionOptions(
    program
      .command('cancel')
      .description('cancel a search: running trainings are stopped, finished results are kept')
      .argument('<id>', 'workflow id of the search'),
  ).action(async (id: string, flags: ConnectionFlags) => {
    // Loaded on use: `effscale train` (one process per candidate) must start fast.
    const { openSession } = await import('../../worker/session.js');
    const session = await openSession(flags);
    try {
      await session.client.workflow.getHandle(id).cancel();
      console.log(`cancellation requested for ${id}`);
    } finally {
      await session.close();
    }
  });
}
