import type { Command } from 'commander';
import { createSearchWorker, quietWorkerLogs } from '../../worker/worker.js';
import { openSession } from '../../worker/session.js';
import { connectionOptions, type ConnectionFlags } from './common.js';

export function registerDev(program: Command): void {
  connectionOptions(
    program
      .command('dev')
      .description('keep the local Temporal dev server (state dir database, web UI) and a worker running'),
  ).action(async (flags: ConnectionFlags) => {
    const session = await openSession({ ...flags, address: undefined });
    quietWorkerLogs();
    const { worker, connection } = await createSearchWorker({ address: session.address, namespace: session.namespace });
    console.error(
      `effscale: Temporal at ${session.address}, UI ${session.uiUrl}; state in ${session.stateDir}; Ctrl-C stops`,
    );
    try {
      await worker.run();
    } finally {
      await connection.close();
      await session.close();
    }
  });
}
