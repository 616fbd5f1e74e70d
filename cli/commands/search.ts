import type { Command } from 'commander';
import { connectionOptions, type ConnectionFlags } from './common.js';

interface SearchFlags extends ConnectionFlags {
  json?: boolean;
  follow?: boolean;
  detach?: boolean;
  worker?: boolean;
}

export function registerSearch(program: Command): void {
  connectionOptions(
    program
      .command('search')
      .description('run (or re-attach to) a compound-scaling search; prints the result')
      .argument('<spec>', 'search spec (YAML)')
      .option('--json', 'print the result as JSON on stdout')
      .option('--follow', 'follow the search until it closes (the default unless --detach)')
      .option('--detach', 'start (or find) the search and return its id; a worker elsewhere runs it')
      .option('--no-worker', 'do not run an in-process worker (one runs elsewhere: effscale dev / worker)'),
  ).action(async (file: string, flags: SearchFlags) => {
    // Loaded on use: `effscale train` (one process per candidate) must start fast.
    const { createSearchWorker, quietWorkerLogs } = await import('../../worker/worker.js');
    const { loadSearchSpec, startOrAttach } = await import('../../worker/client.js');
    const { followSearch } = await import('../../worker/follow.js');
    const { humanSummary, progressLine, resultDocument } = await import('../../worker/output.js');
    const { openSession, workflowUiUrl } = await import('../../worker/session.js');
    const spec = await loadSearchSpec(file);
    const session = await openSession(flags);
    // A search on a cluster address is run by its workers; on the dev server this process runs one.
    const runWorker = flags.worker !== false && !flags.detach && !flags.address && !process.env.TEMPORAL_ADDRESS;
    try {
      const { handle, workflowId, started } = await startOrAttach(session.client, spec);
      const ui = workflowUiUrl(session, workflowId);
      console.error(
        `effscale: ${started ? 'started' : 're-attached to'} search ${workflowId}${ui ? ` (UI ${ui})` : ''}`,
      );
      if (flags.detach) {
        console.log(flags.json ? JSON.stringify({ workflowId, ui, started }) : workflowId);
        return;
      }
      let last = '';
      const follow = () =>
        followSearch(
          session.client,
          handle,
          (p) => {
            const line = progressLine(p);
            if (line !== last) console.error(`effscale: ${line}`);
            last = line;
          },
          session.stateDir,
        );
      let outcome;
      if (runWorker) {
        quietWorkerLogs();
        const { worker, connection } = await createSearchWorker({
          address: session.address,
          namespace: session.namespace,
          stateDir: session.stateDir,
        });
        try {
          outcome = await worker.runUntil(follow());
        } finally {
          await connection.close();
        }
      } else {
        outcome = await follow();
      }
      const temporal = { workflowId, ui, address: session.address };
      if (outcome.result) {
        const doc = resultDocument(outcome.result, temporal, outcome.table);
        console.log(flags.json ? JSON.stringify(doc, null, 2) : humanSummary(doc));
      }
      if (outcome.error) {
        console.error(`effscale: search ${workflowId} failed: ${outcome.error}`);
        process.exitCode = 1;
      }
    } finally {
      await session.close();
      if (session.server?.owned && !flags.detach) {
        // The printed UI address dies with the embedded server; the history stays in the state directory.
        console.error(
          `effscale: the embedded Temporal server stopped; \`effscale dev --state-dir ${session.stateDir}\` serves its UI and history again`,
        );
      }
    }
  });
}
