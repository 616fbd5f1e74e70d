import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadReportData } from '../../report/data.js';
import { locateSearch, SearchNotFoundError } from '../../report/locate.js';
import { UsageError } from '../run.js';
import { defaultStateDir } from '../../store/search-dir.js';

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('write a self-contained HTML report of a search (summary, candidates, Pareto plot, heatmaps, curves)')
    .argument('<id>', 'workflow id of the search (or its name)')
    .requiredOption('--out <file.html>', 'where to write the report')
    .option('--state-dir <dir>', 'state directory', defaultStateDir())
    .action(async (id: string, flags: { out: string; stateDir: string }) => {
      const searchDir = await locateSearch(flags.stateDir, id).catch((error: unknown) => {
        throw error instanceof SearchNotFoundError ? new UsageError(error.message) : error;
      });
      const data = await loadReportData(searchDir);
      if (!data)
        throw new UsageError(
          `search ${id} has no recorded result in ${searchDir} yet (still running? \`effscale result ${id}\` waits for it)`,
        );
      const out = resolve(flags.out);
      await mkdir(dirname(out), { recursive: true });
      const { renderReport } = await import('../../report/html.js');
      await writeFile(out, await renderReport(data));
      console.log(out);
    });
}
