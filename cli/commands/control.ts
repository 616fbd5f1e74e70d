import type { Command } from 'commander';
import { UsageError } from '../run.js';
import { connectionOptions, withSearchHandle, type ConnectionFlags } from './common.js';

const switches = [
  {
    name: 'pause',
    signal: 'pauseSignal',
    description: 'stop launching candidates (running trainings finish); `resume` continues',
  },
  { name: 'resume', signal: 'resumeSignal', description: 'launch candidates again after `pause`' },
] as const;

/** Steering a running search: pause/resume launching new candidates, change how many train at once. */
export function registerControl(program: Command): void {
  for (const { name, signal, description } of switches) {
    connectionOptions(
      program.command(name).description(description).argument('<id>', 'workflow id of the search'),
    ).action(async (id: string, flags: ConnectionFlags) => {
      const messages = await import('../../workflows/messages.js');
      await withSearchHandle(id, flags, (handle) => handle.signal(messages[signal]));
      console.log(`${id}: ${name}d`);
    });
  }
  connectionOptions(
    program
      .command('parallelism')
      .description('set how many candidates train at once')
      .argument('<id>', 'workflow id of the search')
      .argument('<n>', 'a whole number ≥ 1'),
  ).action(async (id: string, n: string, flags: ConnectionFlags) => {
    const parallelism = Number(n);
    if (!Number.isInteger(parallelism) || parallelism < 1) {
      throw new UsageError(`parallelism: expected a whole number ≥ 1, got '${n}'`);
    }
    const { setParallelismUpdate } = await import('../../workflows/messages.js');
    const now = await withSearchHandle(id, flags, (handle) =>
      handle.executeUpdate(setParallelismUpdate, { args: [parallelism] }),
    );
    console.log(`${id}: parallelism ${now}`);
  });
}
