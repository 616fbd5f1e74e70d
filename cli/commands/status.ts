import type { Command } from 'commander';
import { connectionOptions, type ConnectionFlags } from './common.js';

export function registerStatus(program: Command): void {
  connectionOptions(
    program
      .command('status')
      .description("a search's state: stage, candidates by state, best so far, time left")
      .argument('<id>', 'workflow id of the search')
      .option('--json', 'print JSON'),
  ).action(async (id: string, flags: ConnectionFlags & { json?: boolean }) => {
    const { searchProgress } = await import('../../client/follow.js');
    const { hasWorker, workerHint } = await import('../../client/pollers.js');
    const { openSession, workflowUiUrl } = await import('../../client/session.js');
    const { progressLine } = await import('../../client/output.js');
    const { searchVersion } = await import('../../client/versions.js');
    const session = await openSession(flags);
    try {
      const handle = session.client.workflow.getHandle(id);
      const description = await handle.describe();
      const progress = await searchProgress(session.client, handle).catch(() => undefined);
      const running = description.status.name === 'RUNNING';
      const version = searchVersion(description);
      const served = running ? await hasWorker(session.client, description.taskQueue, version.buildId) : null;
      const doc = {
        workflowId: id,
        status: description.status.name,
        worker: served,
        version,
        stage: description.typedSearchAttributes.get({ name: 'EffscaleStage', type: 'KEYWORD' }) ?? null,
        progress: progress ?? null,
        ui: workflowUiUrl(session, id),
      };
      if (flags.json) console.log(JSON.stringify(doc, null, 2));
      else {
        console.log(`${id}: ${doc.status}${progress ? ` ${progressLine(progress)}` : ` stage ${doc.stage}`}`);
        if (version.buildId)
          console.log(`  build ${version.buildId} (${version.override ? 'moved here' : version.behavior})`);
      }
      if (served === false)
        console.error(
          `effscale: no worker serves ${id}, so it is not progressing: ${workerHint(id, description.taskQueue)}`,
        );
    } finally {
      await session.close();
    }
  });
}
