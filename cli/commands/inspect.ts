import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { architectureCost } from '../../scaling/cost.js';
import { architectureSummary, loadTarget, printArchitecture, withClasses } from './scaling-io.js';

interface InspectFlags {
  json?: boolean;
  layers?: boolean;
  classes?: string;
}

/** A YAML/JSON file with a baseline and a task is a search spec, not an architecture. */
async function isSearchSpec(target: string): Promise<boolean> {
  const text = await readFile(target, 'utf8').catch(() => undefined);
  if (text === undefined) return false;
  try {
    const doc: unknown = parseYaml(text);
    return typeof doc === 'object' && doc !== null && 'baseline' in doc && 'task' in doc;
  } catch {
    return false;
  }
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description(
      'validate an architecture (YAML/JSON file or preset name) and print it with its exact costs; a search spec gets its plan',
    )
    .argument(
      '<file-or-preset>',
      'architecture file (stages may be block strings; `preset:` + overrides allowed) or preset',
    )
    .option('--classes <n>', 'replace the number of output classes')
    .option('--layers', 'also list every layer (shape, connectivity, params, multiply-adds, activation bytes)')
    .option('--json', 'print JSON: the summary, the full architecture and its layers')
    .action(async (target: string, flags: InspectFlags) => {
      if (await isSearchSpec(target)) {
        // A search spec: check it as `search --dry-run` does and show its plan.
        const { loadSearchSpec } = await import('../../client/search.js');
        const { dryRun, dryRunSummary } = await import('../../client/dry-run.js');
        const { defaultStateDir } = await import('../../store/search-dir.js');
        const plan = await dryRun(await loadSearchSpec(target), defaultStateDir());
        console.log(flags.json ? JSON.stringify(plan, null, 2) : `${target} is a search spec.\n${dryRunSummary(plan)}`);
        return;
      }
      const arch = withClasses(await loadTarget(target), flags.classes);
      const cost = architectureCost(arch);
      if (flags.json) {
        console.log(
          JSON.stringify({ ...architectureSummary(arch, cost), architecture: arch, layers: cost.layers }, null, 2),
        );
        return;
      }
      printArchitecture(arch, cost, flags.layers ? cost.layers : undefined);
    });
}
