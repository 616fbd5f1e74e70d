import { cp, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readJsonIfExists } from '../store/search-dir.js';
import type { ModelEntry, Registry } from '../registry/registry.js';
import type { SearchResult } from '../search/state.js';
import { locateSearch, SearchNotFoundError } from './locate.js';

/**
 * `effscale export`: the final architecture data (layers, connectivity, operations, shapes, costs) as JSON, and
 * the trained model in tfjs format — of a registered model, or of a search (its family, and the registered model
 * of its largest φ).
 */

export type ExportTarget =
  { kind: 'model'; entry: ModelEntry } | { kind: 'search'; searchDir: string; result: SearchResult };

/** A registered model `name[@vN]` wins; else a search id or name under the state dir. */
export async function resolveExportTarget(ref: string, registry: Registry, stateDir: string): Promise<ExportTarget> {
  let registryError: string | undefined;
  try {
    return { kind: 'model', entry: await registry.get(ref) };
  } catch (error) {
    registryError = (error as Error).message;
  }
  let searchDir: string;
  try {
    searchDir = await locateSearch(stateDir, ref);
  } catch (error) {
    if (!(error instanceof SearchNotFoundError)) throw error;
    throw new SearchNotFoundError(
      `${ref} is neither a registered model (${registryError}) nor a search (${error.message})`,
    );
  }
  const result = await readJsonIfExists<SearchResult>(join(searchDir, 'summary.json'));
  if (!result) throw new SearchNotFoundError(`search ${ref} has no recorded result in ${searchDir} yet`);
  return { kind: 'search', searchDir, result };
}

const json = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;

/** The scaled architecture spec of a family member, when its search directory is still there. */
async function memberArchitecture(searchDir: string, member: string) {
  return readJsonIfExists<Record<string, unknown>>(join(searchDir, 'family', `${member}.json`));
}

export async function exportJson(target: ExportTarget, stateDir: string): Promise<Record<string, unknown>> {
  if (target.kind === 'model') {
    const { entry } = target;
    const searchDir = join(stateDir, 'searches', entry.lineage.searchId);
    const spec = await memberArchitecture(searchDir, entry.lineage.member);
    return {
      model: `${entry.name}@${entry.version}`,
      ...(spec && { architecture: spec }),
      ...(await json(join(entry.uri, 'architecture.json'))),
      metrics: entry.metrics,
      lineage: entry.lineage,
    };
  }
  const { searchDir, result } = target;
  const family = [];
  for (const member of result.state.family) {
    const costFile = member.architectureUri.replace(/\.json$/, '.cost.json');
    family.push({
      member: member.name,
      source: member.source,
      architecture: await readJsonIfExists(member.architectureUri),
      ...(await readJsonIfExists<Record<string, unknown>>(costFile)),
      final: result.state.finals.find((f) => f.member === member.name),
      registered: result.state.registered.find((r) => r.member === member.name),
    });
  }
  return { search: result.searchId, name: result.name, searchDir, best: result.best, family };
}

/** The registered model to copy: the model itself, or the registered member of the search with the largest φ. */
export function modelToExport(target: ExportTarget): string {
  if (target.kind === 'model') return join(target.entry.uri, 'model');
  const { state } = target.result;
  const registered = [...state.registered].sort(
    (a, b) =>
      (state.family.find((m) => m.name === b.member)?.phi ?? 0) -
      (state.family.find((m) => m.name === a.member)?.phi ?? 0),
  )[0];
  if (!registered)
    throw new SearchNotFoundError(
      `search ${target.result.searchId} registered no model (stage ${state.stage}); nothing to export as tfjs`,
    );
  return join(registered.uri, 'model');
}

/** Copies a tfjs model directory (`model.json` and its weight shards) to `out`. */
export async function exportTfjs(modelDir: string, out: string): Promise<void> {
  await stat(join(modelDir, 'model.json')).catch(() => {
    throw new SearchNotFoundError(`${modelDir}/model.json does not exist: the registered model is incomplete`);
  });
  await mkdir(out, { recursive: true });
  await cp(modelDir, out, { recursive: true });
}
