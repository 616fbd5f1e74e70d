import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Architecture } from '../scaling/architecture.js';
import { resolveBaseline } from '../scaling/input.js';
import { parseSpec, SpecError } from '../scaling/validate.js';
import { SearchSpec } from '../schemas/search.js';
import type { SearchResult } from '../search/state.js';
import { migrateResult } from '../search/state-version.js';
import { withFile, writeFileAtomic } from '../trainer/durable.js';

/** The state directory a command uses unless told otherwise: `$EFFSCALE_STATE_DIR`, else `.effscale` here. */
export function defaultStateDir(): string {
  return resolve(process.env.EFFSCALE_STATE_DIR ?? '.effscale');
}

/**
 * The search directory of a search id under the WORKER's state directory (`$EFFSCALE_STATE_DIR`, the shared
 * artifacts volume on a cluster): clients never send paths, so a worker pod never sees a laptop's filesystem.
 */
export function searchDirOf(stateDir: string, searchId: string): string {
  // Workflow input is not trusted: a raw `temporal workflow start` skips the CLI, and an id is a path here.
  if (!SEARCH_ID.test(searchId) || searchId.includes('..'))
    throw new SpecError(`searchId '${searchId}': expected letters, digits, '.', '_' and '-' (a search's workflow id)`);
  return join(resolve(stateDir), 'searches', searchId);
}

/** What `workflowIdFor` makes (`effscale-<name>-<hash>`): one path segment, never `..`. */
const SEARCH_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** The state directory a search directory belongs to (the inverse of `searchDirOf`). */
export function stateDirOf(searchDir: string): string {
  return dirname(dirname(resolve(searchDir)));
}

/** The model registry's directory: the spec's `registry.path`, else `<stateDir>/registry`. */
export function registryRoot(searchDir: string, configured?: string): string {
  // searchDir is <stateDir>/searches/<id>: the default registry sits beside it.
  return configured ?? join(dirname(dirname(searchDir)), 'registry');
}

/**
 * The search directory (`<stateDir>/searches/<workflowId>/`, shared storage on a cluster) holds what must not
 * travel through Temporal: the resolved spec, the candidate table (`table/`), candidate outputs, the family.
 */
export const searchPaths = (searchDir: string) => ({
  spec: join(searchDir, 'spec.json'),
  candidate: (id: string) => join(searchDir, 'candidates', id),
  /** The architecture a search candidate trains, recorded at its first training (activities/train.ts). */
  candidateArchitecture: (id: string) => join(searchDir, 'candidates', id, 'architecture.json'),
  /** Finalists' and ablation arms' trainings. */
  final: (id: string) => join(searchDir, 'final', id),
  family: (member: string) => join(searchDir, 'family', `${member}.json`),
  summary: join(searchDir, 'summary.json'),
  selection: join(searchDir, 'selection.json'),
  datasetSize: join(searchDir, 'dataset-size.json'),
  /** Indexes of image-file datasets, built by the plan step (trainer/data/dataset-index.ts names the folders). */
  datasetIndexes: join(searchDir, 'datasets'),
  runs: join(searchDir, 'runs.jsonl'),
});

const specs = new Map<string, { mtimeMs: number; spec: Promise<SearchSpec> }>();

/** Every training reads the spec: parsed once per version of the file (a resumed search may rewrite it). */
export async function readSearchSpec(searchDir: string): Promise<SearchSpec> {
  const file = searchPaths(searchDir).spec;
  const { mtimeMs } = await stat(file);
  const cached = specs.get(file);
  if (cached?.mtimeMs === mtimeMs) return cached.spec;
  const spec = readFile(file, 'utf8').then((text) => parseSpec(SearchSpec, JSON.parse(text), file));
  specs.set(file, { mtimeMs, spec });
  spec.catch(() => specs.delete(file));
  return spec;
}

/** Writes the validated spec the workflow carries; idempotent, so a retried or resumed plan may write it again. */
export async function writeSearchSpec(searchDir: string, spec: SearchSpec): Promise<void> {
  await writeJsonAtomic(searchPaths(searchDir).spec, spec);
}

export function baselineOf(spec: SearchSpec): Architecture {
  return resolveBaseline(spec.baseline, 'baseline');
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2));
}

export async function readJsonIfExists<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** One line per trainer launch and finish: the record that shows nothing finished is trained twice. */
export interface RunRecord {
  event: 'launch' | 'finish' | 'reuse';
  candidateId: string;
  attempt: number;
  /** The epochs the run trains to (a rung of successive halving). */
  epochs?: number;
  pid?: number;
  pod?: string;
  at: string;
}

/** Appends one line, flushed; a line torn by an earlier crash is ended first, so it never swallows this one. */
export async function appendRun(searchDir: string, record: RunRecord): Promise<void> {
  await withFile(searchPaths(searchDir).runs, 'a+', async (f) => {
    const { size } = await f.stat();
    const last = Buffer.alloc(1);
    if (size > 0) await f.read(last, 0, 1, size - 1);
    const torn = size > 0 && last[0] !== 0x0a;
    await f.appendFile((torn ? '\n' : '') + JSON.stringify(record) + '\n');
    await f.datasync();
  });
}

/** The launch records; a line a crash tore mid-write is not a record and is left out. */
export async function readRuns(searchDir: string): Promise<RunRecord[]> {
  const text = await readFile(searchPaths(searchDir).runs, 'utf8').catch(() => '');
  return text.split('\n').flatMap((line) => {
    try {
      return line ? [JSON.parse(line) as RunRecord] : [];
    } catch {
      return [];
    }
  });
}

/**
 * The last recorded outcome, from which a failed or extended search resumes; undefined when none was recorded. An
 * earlier release's summary is read as this one's (search/state-version.ts).
 */
export async function readSummary(searchDir: string): Promise<SearchResult | undefined> {
  const file = searchPaths(searchDir).summary;
  const raw = await readJsonIfExists<SearchResult>(file);
  return raw && migrateResult(raw, file);
}
