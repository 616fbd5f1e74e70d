import type { Command } from 'commander';
import { UsageError } from '../run.js';
import { connectionOptions, type ConnectionFlags } from './common.js';

/** Steering a running search: pause/resume launching new candidates, change how many train at once. */
export function registerControl(program: Command): void {
  connectionOptions(
    program
      .command('pause')
      .description('stop launching candidates (running trainings finish); `resume` continues')
      .argument('<id>', 'workflow id of the search'),
  ).action(async (id: string, flags: ConnectionFlags) => {
    const { pauseSignal } = await import('../../workflows/messages.js');
    await withHandle(id, flags, (handle) => handle.signal(pauseSignal));
    console.log(`${id}: paused`);
  });
  connectionOptions(
    program
      .command('resume')
      .description('launch candidates again after `pause`')
      .argument('<id>', 'workflow id of the search'),
  ).action(async (id: string, flags: ConnectionFlags) => {
    const { resumeSignal } = await import('../../workflows/messages.js');
    await withHandle(id, flags, (handle) => handle.signal(resumeSignal));
    console.log(`${id}: resumed`);
  });
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
    const now = await withHandle(id, flags, (handle) =>
      handle.executeUpdate(setParallelismUpdate, { args: [parallelism] }),
    );
    console.log(`${id}: parallelism ${now}`);
  });
}

async function withHandle<T>(
  id: string,
  flags: ConnectionFlags,
  act: (handle: import('@temporalio/client').WorkflowHandle) => Promise<T>,
): Promise<T> {
  // Loaded on use: `effscale train` (one process per candidate) must start fast.
  const { openSession } = await import('../../worker/session.js');
  const session = await openSession(flags);
  try {
    return await act(session.client.workflow.getHandle(id));
  } finally {
    await session.close();
  }
}
