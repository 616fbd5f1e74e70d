import type { Command } from 'commander';
import { connectionOptions, type ConnectionFlags } from './common.js';

export function registerDev(program: Command): void {
  connectionOptions(
    program
      .command('dev')
      .description('keep the local Temporal dev server (state dir database, web UI) and a worker running')
      .option(
        '--listen-all',
        'listen on every interface (0.0.0.0), not only 127.0.0.1: workers elsewhere, such as pods, reach it at this machine’s address',
      ),
  ).action(async (flags: ConnectionFlags & { listenAll?: boolean }) => {
    // Loaded on use: `effscale train` (one process per candidate) must start fast.
    const { createSearchWorker, quietWorkerLogs } = await import('../../worker/worker.js');
    const { openSession } = await import('../../client/session.js');
    const session = await openSession({ ...flags, address: undefined });
    quietWorkerLogs();
    const { worker, connection } = await createSearchWorker({
      address: session.address,
      namespace: session.namespace,
      stateDir: session.stateDir,
    });
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
