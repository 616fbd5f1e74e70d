import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SearchSpec } from '../schemas/search.js';
import type { MeasuredThroughput, Throughput } from '../search/estimate.js';
import { readJsonIfExists, searchPaths } from '../store/search-dir.js';

/** The spec's figure, else the one the most recent finished search in this store measured on the same executor. */
export async function throughputFor(spec: SearchSpec, stateDir: string): Promise<Throughput | null> {
  if (spec.execution.throughput) return { macsPerSecond: spec.execution.throughput, source: 'execution.throughput' };
  const searches = join(stateDir, 'searches');
  const ids = await readdir(searches).catch(() => [] as string[]);
  let latest: (Throughput & { at: string }) | null = null;
  for (const id of ids) {
    const summary = await readJsonIfExists<{ measured?: MeasuredThroughput }>(searchPaths(join(searches, id)).summary);
    const m = summary?.measured;
    if (m && m.executor === spec.execution.executor && (!latest || m.at > latest.at))
      latest = { macsPerSecond: m.macsPerSecond, source: `measured by ${id}`, at: m.at };
  }
  return latest && { macsPerSecond: latest.macsPerSecond, source: latest.source };
}
