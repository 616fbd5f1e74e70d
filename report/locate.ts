import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** A search id (or name) that matches no search directory, or several. */
export class SearchNotFoundError extends Error {
  override name = 'SearchNotFoundError';
}

async function isDir(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/**
 * The search directory of `id` under `<stateDir>/searches/`: the workflow id itself, or a search name when
 * exactly one search of that name exists (workflow ids are `effscale-<name>-<spec hash>`).
 */
export async function locateSearch(stateDir: string, id: string): Promise<string> {
  const root = join(resolve(stateDir), 'searches');
  const exact = join(root, id);
  if (!id.includes('/') && (await isDir(exact))) return exact;
  const all = await readdir(root).catch(() => [] as string[]);
  const byName = all.filter((dir) => new RegExp(`^effscale-${id.replace(/[^a-z0-9-]/g, '')}-[0-9a-f]{10}$`).test(dir));
  if (byName.length === 1 && byName[0]) return join(root, byName[0]);
  if (byName.length > 1)
    throw new SearchNotFoundError(
      `${id} names several searches under ${root}: ${byName.join(', ')}; give the workflow id`,
    );
  throw new SearchNotFoundError(
    `no search ${id} under ${root}` +
      (all.length ? ` (have ${all.join(', ')})` : ' (no searches there; check --state-dir)'),
  );
}
