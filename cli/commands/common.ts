import type { Command } from 'commander';

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
    .option(
      '--state-dir <dir>',
      'state directory: dev-server database, search artifacts, registry',
      process.env.EFFSCALE_STATE_DIR ?? '.effscale',
    )
    .option('--ui-port <port>', 'dev-server web UI port (default: a free one)', (v) => Number(v));
}
