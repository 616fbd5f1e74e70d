import type { Command } from 'commander';
import { connectionOptions, withSearchHandle, type ConnectionFlags } from './common.js';

export function registerCancel(program: Command): void {
  connectionOptions(
    program
      .command('cancel')
      .description('cancel a search: running trainings are stopped, finished results are kept')
      .argument('<id>', 'workflow id of the search'),
  ).action(async (id: string, flags: ConnectionFlags) => {
    await withSearchHandle(id, flags, (handle) => handle.cancel());
    console.log(`cancellation requested for ${id}`);
  });
}
