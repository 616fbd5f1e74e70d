import type { Command } from 'commander';
import { connectionOptions, type ConnectionFlags } from './common.js';

export function registerCandidates(program: Command): void {
  connectionOptions(
    program
      .command('candidates')
      .description(
        "a search's candidate table from Temporal (α, β, γ, MACs, state, score ± spread, rung), live while it runs",
      )
      .argument('<id>', 'workflow id of the search')
      .option('--json', 'print JSON'),
  ).action(async (id: string, flags: ConnectionFlags & { json?: boolean }) => {
    const { candidateTableJson, candidateTableText, searchCandidates } = await import('../../client/candidates.js');
    const { openSession } = await import('../../client/session.js');
    const session = await openSession(flags);
    try {
      const table = await searchCandidates(session.client, id);
      console.log(flags.json ? JSON.stringify(candidateTableJson(table), null, 2) : candidateTableText(table));
    } finally {
      await session.close();
    }
  });
}
