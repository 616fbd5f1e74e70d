import type { Command } from 'commander';
import { UsageError } from '../run.js';

interface WorkerFlags {
  address?: string;
  namespace?: string;
  maxTrainings: number;
  healthPort?: number;
  makeCurrent: boolean;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a search worker (workflows and trainings) against a Temporal server: the cluster mode')
    .option(
      '--address <host:port>',
      'Temporal frontend (default: $TEMPORAL_ADDRESS); TLS and API key: docs/kubernetes.md',
    )
    .option('--namespace <ns>', 'Temporal namespace (default: $TEMPORAL_NAMESPACE, else default)')
    .option('--max-trainings <n>', 'concurrent trainings on this worker', (v) => Number(v), 64)
    .option('--health-port <port>', 'serve /healthz and /readyz here (Kubernetes probes)', (v) => Number(v))
    .option(
      '--no-make-current',
      "never make this worker's build the current one (by default a build new to the server becomes current)",
    )
    .action(async (flags: WorkerFlags) => {
      const { createSearchWorker, quietWorkerLogs } = await import('../../worker/worker.js');
      const { defaultStateDir } = await import('../../store/search-dir.js');
      const { attributesHint, connect, registerSearchAttributes, TASK_QUEUE } =
        await import('../../worker/temporal.js');
      const { serverTarget } = await import('../../worker/connection.js');
      const target = serverTarget(flags);
      if (!target) throw new UsageError('worker needs --address host:port (or TEMPORAL_ADDRESS)');
      const { connection: server, namespace } = target;
      const connection = await connect(server);
      await registerSearchAttributes(connection, namespace).catch((err: unknown) => console.error(attributesHint(err)));
      await connection.close();
      quietWorkerLogs();
      const {
        worker,
        connection: native,
        release,
      } = await createSearchWorker({
        server,
        namespace,
        maxConcurrentTrainings: flags.maxTrainings,
        makeCurrent: flags.makeCurrent ? 'when-new' : 'never',
        // Searches live on this worker's store (the shared volume on a cluster), whatever the client's is.
        stateDir: defaultStateDir(),
      });
      if (flags.healthPort !== undefined) {
        const { healthServer } = await import('../../worker/health.js');
        healthServer(worker).listen(flags.healthPort).unref();
      }
      console.error(
        `effscale: worker polling ${TASK_QUEUE} on ${server.address}${server.tls ? ' (TLS)' : ''} ` +
          `(namespace ${namespace}, build ${release.buildId}), searches in ${defaultStateDir()}; Ctrl-C stops it`,
      );
      try {
        await worker.run();
      } finally {
        await native.close();
      }
    });
}
