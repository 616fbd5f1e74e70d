import type { Command } from 'commander';
import { defaultStateDir } from '../../store/search-dir.js';

/** Flags every command that talks to Temporal shares. */
export interface ConnectionFlags {
  address?: string;
  namespace?: string;
  stateDir?: string;
  uiPort?: number;
}

export function connectionOptions(command: Command): Command {
  return command
    .option('--address <host:port>', 'Temporal frontend (default: $TEMPORAL_ADDRESS, else a local dev server)')
    .option(
      '--namespace <ns>',
      'Temporal namespace (default: $TEMPORAL_NAMESPACE, else default)',
      process.env.TEMPORAL_NAMESPACE ?? 'default',
    )
    .option('--state-dir <dir>', 'state directory: dev-server database, search artifacts, registry', defaultStateDir())
    .option('--ui-port <port>', 'dev-server web UI port (default: a free one)', (v) => Number(v));
}

/** Runs `act` on the handle of search `id`, over a session opened (and closed) for this one command. */
export async function withSearchHandle<T>(
  id: string,
  flags: ConnectionFlags,
  act: (handle: import('@temporalio/client').WorkflowHandle) => Promise<T>,
): Promise<T> {
  const { openSession } = await import('../../client/session.js');
  const session = await openSession(flags);
  try {
    return await act(session.client.workflow.getHandle(id));
  } finally {
    await session.close();
  }
}
