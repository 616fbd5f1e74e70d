import type { Command } from 'commander';
import { z } from 'zod';
import type { SearchExtension } from '../../search/types.js';
import { parseSpec } from '../../scaling/validate.js';
import { UsageError } from '../run.js';
import { connectionOptions, type ConnectionFlags } from './common.js';

const Range = z
  .string()
  .regex(/^\d+(\.\d+)?:\d+(\.\d+)?:\d+(\.\d+)?$/, 'expected min:max:step, e.g. 1:1.5:0.05')
  .transform((s) => {
    const [min, max, step] = s.split(':').map(Number);
    return { min, max, step };
  });

const ExtendFlags = z.object({
  phi: z.array(z.coerce.number().min(0).max(16)).optional(),
  alpha: Range.optional(),
  beta: Range.optional(),
  gamma: Range.optional(),
  tolerance: z.coerce.number().gt(0).max(1).optional(),
  random: z
    .string()
    .regex(/^\d+(:\d+)?$/, 'expected count[:seed]')
    .transform((s) => {
      const [count, seed = 0] = s.split(':').map(Number);
      return { count, seed };
    })
    .optional(),
});

export function registerExtend(program: Command): void {
  connectionOptions(
    program
      .command('extend')
      .description('extend a search with more grid points or another φ (a finished search continues in a new run)')
      .argument('<id>', 'workflow id of the search')
      .option('--phi <phi...>', 'more family members')
      .option('--alpha <min:max:step>', 'α range of the extra grid points')
      .option('--beta <min:max:step>', 'β range')
      .option('--gamma <min:max:step>', 'γ range')
      .option('--tolerance <t>', 'constraint tolerance of the extra grid points')
      .option('--random <count[:seed]>', 'sample extra points at random')
      .option('--json', 'print the result as JSON when the extension runs here'),
  ).action(async (id: string, raw: ConnectionFlags & Record<string, unknown>) => {
    const { WorkflowUpdateFailedError } = await import('@temporalio/client');
    const { extendUpdate } = await import('../../workflows/messages.js');
    const { extendFinished, searchOptionsOf, sessionQueue } = await import('../../client/search.js');
    const { openSession, workflowUiUrl } = await import('../../client/session.js');
    const { hasWorker, workerHint } = await import('../../client/pollers.js');
    const { runInForeground } = await import('../../client/foreground.js');
    const { printOutcome, progressPrinter } = await import('../../client/output.js');
    const { phi, ...grid } = parseSpec(ExtendFlags, raw, 'extend flags', '--');
    const extension: SearchExtension = { ...grid, ...(phi && { phis: phi }) };
    if (!Object.keys(extension).length)
      throw new UsageError('extend needs --phi or grid flags (--alpha/--beta/--gamma/--tolerance/--random)');
    const session = await openSession(raw);
    try {
      const handle = session.client.workflow.getHandle(id);
      const description = await handle.describe();
      if (description.status.name === 'RUNNING') {
        if (!(await hasWorker(session.client, description.taskQueue)))
          throw new UsageError(
            `search ${id} has no worker to plan the extension: ${workerHint(id, description.taskQueue)}`,
          );
        try {
          const added = await handle.executeUpdate(extendUpdate, { args: [extension] });
          console.log(`extended ${id}: ${added} new trainings`);
        } catch (err) {
          if (err instanceof WorkflowUpdateFailedError)
            throw new UsageError(`cannot extend ${id}: ${err.cause?.message ?? err.message}`);
          throw err;
        }
        return;
      }
      // The new run resumes from the state the workers recorded: this client needs no access to their store.
      const options = await searchOptionsOf(handle);
      if (!session.server) {
        await extendFinished(session.client, id, { options }, extension);
        console.log(`extended ${id} in a new run; follow it with: effscale result ${id}`);
        return;
      }
      // Single machine: like `search`, the extension runs in this session, in the foreground.
      const taskQueue = sessionQueue(id);
      const extended = await extendFinished(session.client, id, { options }, extension, taskQueue);
      console.error(
        `effscale: extended ${id} in a new run; it runs here (Ctrl-C stops it, \`effscale search\` continues it)`,
      );
      const attached = { handle: extended, workflowId: id, started: true, taskQueue };
      const outcome = await runInForeground(session, attached, progressPrinter());
      process.exitCode = printOutcome(outcome, {
        temporal: { workflowId: id, ui: workflowUiUrl(session, id), address: session.address },
        json: raw.json === true,
        resume: `effscale search SPEC (the spec of ${options.name})`,
      });
    } finally {
      await session.close();
    }
  });
}
