import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Registry } from '../registry/registry.js';
import { readSearchSpec, registryRoot, searchPaths, writeJsonAtomic } from '../store/search-dir.js';
import type { RegisteredModel, RegisterInput } from '../search/types.js';
import type { MeasuredThroughput } from '../search/estimate.js';
import type { SearchResult } from '../search/state.js';

/** Registers a retrained family member with its architecture data, metrics and lineage; idempotent on retry. */
export async function registerModel(searchDir: string, input: RegisterInput): Promise<RegisteredModel> {
  const spec = await readSearchSpec(searchDir);
  const registry = new Registry(registryRoot(searchDir, spec.registry.path));
  const name = `${spec.registry.model ?? spec.name}-${input.member.name}`.replace(/_/g, '.');
  const uri = input.outcome.modelUri;
  const modelDir = uri.startsWith('file:') ? fileURLToPath(uri) : uri;
  const earlier = await registry.findByModel(name, input.searchId, input.member.name);
  const entry =
    earlier ??
    (await registry.register({
      name,
      ...(modelDir && existsSync(modelDir) && { modelDir }),
      architecture: JSON.parse(await readFile(input.member.architectureUri.replace(/\.json$/, '.cost.json'), 'utf8')),
      metrics: {
        score: input.outcome.score,
        metric: spec.task.metric,
        seconds: input.outcome.seconds,
        macs: input.member.macs,
      },
      lineage: {
        searchId: input.searchId,
        specHash: input.specHash,
        alpha: input.best.alpha,
        beta: input.best.beta,
        gamma: input.best.gamma,
        phi: input.member.phi,
        factors: input.member.factors,
        dataset: spec.task.dataset,
        rule: spec.scaling.grid.rule,
        member: input.member.name,
        registeredAt: new Date().toISOString(),
      },
    }));
  return { name: entry.name, version: entry.version, uri: entry.uri, member: input.member.name };
}

/** The search's outcome on disk: what `effscale result` shows even for a cancelled or failed search. */
export async function recordSummary(searchDir: string, result: SearchResult): Promise<void> {
  await writeJsonAtomic(searchPaths(searchDir).summary, { ...result, measured: await measured(searchDir, result) });
}

/** The speed this search's trainings showed, for the next search's estimate (estimate.ts). */
async function measured(searchDir: string, result: SearchResult): Promise<MeasuredThroughput | undefined> {
  const { seconds, work } = result.spend;
  const images = result.state.imagesPerEpoch;
  if (seconds <= 0 || work <= 0 || images <= 0) return undefined;
  const { execution } = await readSearchSpec(searchDir);
  if (execution.local.noop && execution.executor === 'local') return undefined;
  return { executor: execution.executor, macsPerSecond: (work * images) / seconds, at: new Date().toISOString() };
}
