import type { Command } from 'commander';
import { architectureCost } from '../../scaling/cost.js';
import { architectureSummary, loadTarget, printArchitecture, withClasses } from './scaling-io.js';

interface InspectFlags {
  json?: boolean;
  layers?: boolean;
  classes?: string;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('validate an architecture (YAML/JSON file or preset name) and print it with its exact costs')
    .argument(
      '<file-or-preset>',
      'architecture file (stages may be block strings; `preset:` + overrides allowed) or preset',
    )
    .option('--classes <n>', 'replace the number of output classes')
    .option('--layers', 'also list every layer (shape, connectivity, params, multiply-adds, activation bytes)')
    .option('--json', 'print JSON: the summary, the full architecture and its layers')
    .action(async (target: string, flags: InspectFlags) => {
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
