import type { Command } from 'commander';
import { connectionOptions, type ConnectionFlags } from './common.js';

interface SearchFlags extends ConnectionFlags {
  json?: boolean;
  follow?: boolean;
  detach?: boolean;
  worker?: boolean;
  dryRun?: boolean;
  overBudget?: boolean;
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
      .option('--no-worker', 'do not run an in-process worker (one runs elsewhere: effscale dev / worker)')
      .option(
        '--dry-run',
        'check the spec and its dataset, print the plan (grid, trainings, excluded points, cost estimate) and exit',
      )
      .option('--over-budget', 'start even when the estimate exceeds execution.budget (execution.budget.proceed)'),
  ).action(async (file: string, flags: SearchFlags) => {
    const { loadSearchSpec, sessionQueue, startOrAttach } = await import('../../client/search.js');
    const { followSearch } = await import('../../client/follow.js');
    const { runInForeground } = await import('../../client/foreground.js');
    const { progressPrinter, printOutcome } = await import('../../client/output.js');
    const { openSession, workflowUiUrl } = await import('../../client/session.js');
    // A search on a cluster address is run by its workers; on the dev server this process runs one.
    const onCluster = !!(flags.address ?? process.env.TEMPORAL_ADDRESS);
    const loaded = await loadSearchSpec(file, { datasetOnThisMachine: !onCluster });
    const budget = loaded.execution.budget;
    // Execution settings are not part of the search's identity: proceeding does not fork the search.
    const spec =
      flags.overBudget && budget
        ? { ...loaded, execution: { ...loaded.execution, budget: { ...budget, proceed: true } } }
        : loaded;
    if (flags.dryRun) {
      const { dryRun, dryRunSummary } = await import('../../client/dry-run.js');
      const { defaultStateDir } = await import('../../store/search-dir.js');
      const plan = await dryRun(spec, flags.stateDir ?? defaultStateDir());
      console.log(flags.json ? JSON.stringify(plan, null, 2) : dryRunSummary(plan));
      return;
    }
    const session = await openSession(flags);
    const runWorker = flags.worker !== false && !flags.detach && !onCluster;
    try {
      const attached = await startOrAttach(session.client, spec, runWorker ? sessionQueue : undefined);
      const { workflowId, started } = attached;
      const ui = workflowUiUrl(session, workflowId);
      console.error(
        `effscale: ${started ? 'started' : 're-attached to'} search ${workflowId}${ui ? ` (UI ${ui})` : ''}`,
      );
      if (flags.detach) {
        console.log(flags.json ? JSON.stringify({ workflowId, ui, started }) : workflowId);
        return;
      }
      const onProgress = progressPrinter();
      const outcome = runWorker
        ? await runInForeground(session, attached, onProgress)
        : await followSearch(session.client, attached.handle, onProgress, session.stateDir);
      process.exitCode = printOutcome(outcome, {
        temporal: { workflowId, ui, address: session.address },
        json: flags.json === true,
        resume: `effscale search ${file}${flags.stateDir ? ` --state-dir ${flags.stateDir}` : ''}`,
      });
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
