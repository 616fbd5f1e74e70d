import type { Command } from 'commander';
import { connectionOptions, type ConnectionFlags } from './common.js';

export function registerDev(program: Command): void {
  connectionOptions(
    program
      .command('dev')
      .description('keep the local Temporal dev server (state dir database, web UI) and a worker running')
      .option('--no-worker', 'serve Temporal only: the searches are run by workers elsewhere (a cluster)')
      .option(
        '--listen-all',
        'listen on every interface (0.0.0.0), not only 127.0.0.1: workers elsewhere, such as pods, reach it at this machine’s address',
      ),
  ).action(async (flags: ConnectionFlags & { listenAll?: boolean; worker: boolean }) => {
    const { createSearchWorker, quietWorkerLogs } = await import('../../worker/worker.js');
    const { openSession } = await import('../../client/session.js');
    const session = await openSession({ ...flags, address: undefined });
    const where = flags.listenAll ? ' (listening on every interface)' : '';
    if (!flags.worker) {
      console.error(
        `effscale: Temporal at ${session.address}${where}, UI ${session.uiUrl}; no worker here; Ctrl-C stops`,
      );
      await new Promise((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
      await session.close();
      return;
    }
    quietWorkerLogs();
    const { worker, connection } = await createSearchWorker({
      server: session.serverConnection,
      namespace: session.namespace,
      stateDir: session.stateDir,
    });
    console.error(
      `effscale: Temporal at ${session.address}${where}, UI ${session.uiUrl}; state in ${session.stateDir}; Ctrl-C stops`,
    );
    try {
      await worker.run();
    } finally {
      await connection.close();
      await session.close();
    }
  });
}
