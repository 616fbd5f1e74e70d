import { cp, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { syncDirectory, syncTree, temporaryName } from '../trainer/durable.js';
import { join } from 'node:path';

/**
 * A filesystem model registry: `<root>/<name>/<version>/` holds `model/` (tfjs format), `architecture.json`
 * (layers, connectivity, operations, shapes, costs), `metrics.json` and `lineage.json`. Versions are `v1`, `v2`…
 * and a version directory is complete or absent (it is written under a temporary name, then renamed).
 */

export interface Lineage {
  searchId: string;
  specHash: string;
  alpha: number;
  beta: number;
  gamma: number;
  phi: number;
  factors: { depth: number; width: number; resolution: number };
  dataset: unknown;
  rule: string;
  member: string;
  registeredAt: string;
}

export interface ModelEntry {
  name: string;
  version: string;
  uri: string;
  lineage: Lineage;
  metrics: Record<string, unknown>;
}

export interface RegisterRequest {
  name: string;
  /** The trained model (tfjs format); absent for a no-op (synthetic) training, which has none. */
  modelDir?: string;
  architecture: unknown;
  metrics: Record<string, unknown>;
  lineage: Lineage;
}

const NAME = /^[a-z0-9][a-z0-9._-]*$/;

export class Registry {
  constructor(readonly root: string) {}

  async register(req: RegisterRequest): Promise<ModelEntry> {
    if (!NAME.test(req.name)) throw new Error(`registry: bad model name "${req.name}" (lowercase, digits, . _ -)`);
    const dir = join(this.root, req.name);
    await mkdir(dir, { recursive: true });
    const next = (await this.versions(req.name)).reduce((n, v) => Math.max(n, Number(v.slice(1))), 0) + 1;
    const version = `v${next}`;
    // Hidden (a leading dot) until whole and flushed, then renamed into place: a version is there entirely or not at all.
    const staging = temporaryName(join(dir, `.${version}`));
    await mkdir(staging, { recursive: true });
    if (req.modelDir) await cp(req.modelDir, join(staging, 'model'), { recursive: true });
    await writeFile(join(staging, 'architecture.json'), JSON.stringify(req.architecture, null, 2));
    await writeFile(join(staging, 'metrics.json'), JSON.stringify(req.metrics, null, 2));
    await writeFile(join(staging, 'lineage.json'), JSON.stringify(req.lineage, null, 2));
    await syncTree(staging);
    await rename(staging, join(dir, version));
    await syncDirectory(dir);
    return { name: req.name, version, uri: join(dir, version), lineage: req.lineage, metrics: req.metrics };
  }

  /** Every model's versions, oldest first. */
  async list(): Promise<ModelEntry[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const entries: ModelEntry[] = [];
    for (const name of names.sort()) {
      for (const version of await this.versions(name)) entries.push(await this.read(name, version));
    }
    return entries;
  }

  /** `name` (latest version) or `name@vN`. */
  async get(ref: string): Promise<ModelEntry> {
    const [name, wanted] = ref.split('@');
    const versions = await this.versions(name);
    if (!versions.length) throw new Error(`registry: no model named "${name}" under ${this.root}`);
    const version = wanted ?? versions[versions.length - 1];
    if (!versions.includes(version)) {
      throw new Error(`registry: ${name} has no version ${version} (has ${versions.join(', ')})`);
    }
    return this.read(name, version);
  }

  /** Finds an earlier registration of the same trained model, so a retried register activity adds no version. */
  async findByModel(name: string, searchId: string, member: string): Promise<ModelEntry | undefined> {
    for (const version of await this.versions(name)) {
      const entry = await this.read(name, version);
      if (entry.lineage.searchId === searchId && entry.lineage.member === member) return entry;
    }
    return undefined;
  }

  private async versions(name: string): Promise<string[]> {
    const all = await readdir(join(this.root, name)).catch(() => [] as string[]);
    return all.filter((v) => /^v\d+$/.test(v)).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  }

  private async read(name: string, version: string): Promise<ModelEntry> {
    const uri = join(this.root, name, version);
    const json = async (file: string) => JSON.parse(await readFile(join(uri, file), 'utf8'));
    return { name, version, uri, lineage: await json('lineage.json'), metrics: await json('metrics.json') };
  }
}
