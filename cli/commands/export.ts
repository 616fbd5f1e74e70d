import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { Registry } from '../../registry/registry.js';
import { exportJson, exportTfjs, modelToExport, resolveExportTarget } from '../../report/export.js';
import { SearchNotFoundError } from '../../report/locate.js';
import { parseSpec } from '../../scaling/validate.js';
import { UsageError } from '../run.js';
import { defaultStateDir } from '../../store/search-dir.js';

const ExportFormat = z.enum(['json', 'tfjs', 'savedmodel']);

interface ExportFlags {
  format: string;
  out?: string;
  registry?: string;
  stateDir: string;
}

/** TensorFlow is loaded only for this format: the others need none. */
async function exportSavedModelOf(modelDir: string, out: string): Promise<void> {
  const [{ loadNativeTf }, { exportSavedModel }] = await Promise.all([
    import('../../trainer/tf.js'),
    import('../../trainer/graph/export.js'),
  ]);
  await exportSavedModel(loadNativeTf(), modelDir, out);
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      'export the final architecture data as JSON, or the trained model in tfjs format or as a TensorFlow SavedModel',
    )
    .argument('<id-or-model>', 'a registered model (name or name@vN) or a search (workflow id or name)')
    .requiredOption(
      '--format <format>',
      'json (layers, connectivity, operations, shapes, costs), tfjs, or savedmodel (serving_default: images 0–255 in, ' +
        'class probabilities out; for TF Serving write it to <base>/<version>)',
    )
    .option('--out <path>', 'json: a file (default stdout); tfjs, savedmodel: a folder (default ./<ref>-<format>)')
    .option('--registry <dir>', 'registry folder (default <state-dir>/registry)')
    .option('--state-dir <dir>', 'state directory', defaultStateDir())
    .action(async (ref: string, flags: ExportFlags) => {
      const format = parseSpec(ExportFormat, flags.format, 'export --format');
      const stateDir = resolve(flags.stateDir);
      const registry = new Registry(flags.registry ?? join(stateDir, 'registry'));
      try {
        const target = await resolveExportTarget(ref, registry, stateDir);
        if (format === 'json') {
          const text = JSON.stringify(await exportJson(target, stateDir), null, 2) + '\n';
          if (!flags.out) return void process.stdout.write(text);
          await mkdir(dirname(resolve(flags.out)), { recursive: true });
          await writeFile(resolve(flags.out), text);
          console.log(resolve(flags.out));
          return;
        }
        const out = resolve(flags.out ?? `${ref.replace(/[@/]/g, '-')}-${format}`);
        if (format === 'tfjs') await exportTfjs(modelToExport(target), out);
        else await exportSavedModelOf(modelToExport(target), out);
        console.log(out);
      } catch (error) {
        throw error instanceof SearchNotFoundError ? new UsageError(error.message) : error;
      }
    });
}
