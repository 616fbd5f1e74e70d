import { join } from 'node:path';
import type { Command } from 'commander';
import { Registry } from '../../registry/registry.js';
import { defaultStateDir } from '../../worker/session.js';

function registryOf(flags: { registry?: string; stateDir?: string }): Registry {
  return new Registry(flags.registry ?? join(flags.stateDir ?? defaultStateDir(), 'registry'));
}

export function registerModels(program: Command): void {
  const models = program.command('models').description('the model registry: trained, scaled models with lineage');
  const common = (c: Command) =>
    c
      .option('--registry <dir>', 'registry folder (default <state-dir>/registry)')
      .option('--state-dir <dir>', 'state directory', process.env.EFFSCALE_STATE_DIR ?? '.effscale')
      .option('--json', 'print JSON');
  common(models.command('list').description('every registered model version')).action(
    async (flags: { registry?: string; stateDir?: string; json?: boolean }) => {
      const entries = await registryOf(flags).list();
      if (flags.json) console.log(JSON.stringify(entries, null, 2));
      else
        for (const e of entries) {
          const l = e.lineage;
          console.log(
            `${e.name}@${e.version}\tφ=${l.phi} α=${l.alpha} β=${l.beta} γ=${l.gamma}\tscore=${e.metrics.score}\t${e.uri}`,
          );
        }
    },
  );
  common(
    models.command('show').description('one model: metrics, lineage, location').argument('<ref>', 'name or name@vN'),
  ).action(async (ref: string, flags: { registry?: string; stateDir?: string; json?: boolean }) => {
    const entry = await registryOf(flags).get(ref);
    console.log(JSON.stringify(entry, null, 2));
  });
}
