import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultStateDir } from '../../store/search-dir.js';

interface ModelsFlags {
  registry?: string;
  stateDir?: string;
  json?: boolean;
}

async function registryOf(flags: ModelsFlags) {
  const { Registry } = await import('../../registry/registry.js');
  return new Registry(flags.registry ?? join(resolve(flags.stateDir ?? defaultStateDir()), 'registry'));
}

export function registerModels(program: Command): void {
  const models = program.command('models').description('the model registry: trained, scaled models with lineage');
  const common = (c: Command) =>
    c
      .option('--registry <dir>', 'registry folder (default <state-dir>/registry)')
      .option('--state-dir <dir>', 'state directory', defaultStateDir())
      .option('--json', 'print JSON');
  common(models.command('list').description('every registered model version')).action(async (flags: ModelsFlags) => {
    const entries = await (await registryOf(flags)).list();
    if (flags.json) console.log(JSON.stringify(entries, null, 2));
    else
      for (const e of entries) {
        const l = e.lineage;
        console.log(
          `${e.name}@${e.version}\tφ=${l.phi} α=${l.alpha} β=${l.beta} γ=${l.gamma}\tscore=${e.metrics.score}\t${e.uri}`,
        );
      }
  });
  common(
    models.command('show').description('one model: metrics, lineage, location').argument('<ref>', 'name or name@vN'),
  ).action(async (ref: string, flags: ModelsFlags) => {
    console.log(JSON.stringify(await (await registryOf(flags)).get(ref), null, 2));
  });
}
