import type { Command } from 'commander';
import { UsageError } from '../run.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a search worker (workflows and trainings) against a Temporal server: the cluster mode')
    .option('--address <host:port>', 'Temporal frontend (default: $TEMPORAL_ADDRESS)')
    .option(
      '--namespace <ns>',
      'Temporal namespace (default: $TEMPORAL_NAMESPACE, else default)',
      process.env.TEMPORAL_NAMESPACE ?? 'default',
    )
    .option('--max-trainings <n>', 'concurrent trainings on this worker', (v) => Number(v), 64)
    .action(async (flags: { address?: string; namespace: string; maxTrainings: number }) => {
      const { createSearchWorker, quietWorkerLogs } = await import('../../worker/worker.js');
      const { defaultStateDir } = await import('../../store/search-dir.js');
      const { connect, registerSearchAttributes, TASK_QUEUE } = await import('../../worker/temporal.js');
      const address = flags.address ?? process.env.TEMPORAL_ADDRESS;
      if (!address) throw new UsageError('worker needs --address host:port (or TEMPORAL_ADDRESS)');
      const connection = await connect(address);
      await registerSearchAttributes(connection, flags.namespace).catch(() => undefined);
      await connection.close();
      quietWorkerLogs();
      const { worker, connection: native } = await createSearchWorker({
        address,
        namespace: flags.namespace,
        maxConcurrentTrainings: flags.maxTrainings,
        // Searches live on this worker's store (the shared volume on a cluster), whatever the client's is.
        stateDir: defaultStateDir(),
      });
      console.error(
        `effscale: worker polling ${TASK_QUEUE} on ${address} (namespace ${flags.namespace}), ` +
          `searches in ${defaultStateDir()}; Ctrl-C stops it`,
      );
      try {
        await worker.run();
      } finally {
        await native.close();
      }
    });
}
