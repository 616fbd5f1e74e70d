import type { Command } from 'commander';
import { connectionOptions, type ConnectionFlags } from './common.js';

export function registerList(program: Command): void {
  connectionOptions(
    program
      .command('list')
      .description('searches, filtered by the search attributes (name, stage)')
      .option('--name <name>', 'only searches with this name')
      .option('--stage <stage>', 'only searches in this stage (plan, search, final, done, cancelled, failed…)')
      .option('--json', 'print JSON'),
  ).action(async (flags: ConnectionFlags & { name?: string; stage?: string; json?: boolean }) => {
    const { BestScoreAttribute, SearchNameAttribute, StageAttribute } = await import('../../workflows/messages.js');
    const { openSession } = await import('../../client/session.js');
    const session = await openSession(flags);
    try {
      const clauses = [`WorkflowType = 'searchWorkflow'`];
      if (flags.name) clauses.push(`${SearchNameAttribute.name} = '${flags.name.replace(/'/g, '')}'`);
      if (flags.stage) clauses.push(`${StageAttribute.name} = '${flags.stage.replace(/'/g, '')}'`);
      const rows = [];
      for await (const w of session.client.workflow.list({ query: clauses.join(' AND ') })) {
        rows.push({
          workflowId: w.workflowId,
          status: w.status.name,
          name: w.typedSearchAttributes.get(SearchNameAttribute) ?? null,
          stage: w.typedSearchAttributes.get(StageAttribute) ?? null,
          bestScore: w.typedSearchAttributes.get(BestScoreAttribute) ?? null,
          started: w.startTime.toISOString(),
        });
      }
      if (flags.json) console.log(JSON.stringify(rows, null, 2));
      else
        for (const r of rows)
          console.log(`${r.workflowId}\t${r.status}\t${r.stage ?? '-'}\t${r.bestScore ?? '-'}\t${r.started}`);
    } finally {
      await session.close();
    }
  });
}
