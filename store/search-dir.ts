import { appendFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Architecture } from '../scaling/architecture.js';
import { resolveBaseline } from '../scaling/input.js';
import { parseSpec } from '../scaling/validate.js';
import { SearchSpec } from '../schemas/search.js';
import type { SearchResult } from '../search/state.js';

/** The state directory a command uses unless told otherwise: `$EFFSCALE_STATE_DIR`, else `.effscale` here. */
export function defaultStateDir(): string {
  return resolve(process.env.EFFSCALE_STATE_DIR ?? '.effscale');
}

/**
 * The search directory of a search id under the WORKER's state directory (`$EFFSCALE_STATE_DIR`, the shared
 * artifacts volume on a cluster): clients never send paths, so a worker pod never sees a laptop's filesystem.
 */
export function searchDirOf(stateDir: string, searchId: string): string {
  return join(resolve(stateDir), 'searches', searchId);
}

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

/** Written to a temporary name then renamed: a crash never leaves half a file for a retry to trust. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(value, null, 2));
  await rename(tmp, file);
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

export async function appendRun(searchDir: string, record: RunRecord): Promise<void> {
  await appendFile(searchPaths(searchDir).runs, JSON.stringify(record) + '\n');
}

export async function readRuns(searchDir: string): Promise<RunRecord[]> {
  const text = await readFile(searchPaths(searchDir).runs, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as RunRecord);
}

/** The last recorded outcome, from which a failed or extended search resumes; undefined when none was recorded. */
export async function readSummary(searchDir: string): Promise<SearchResult | undefined> {
  return readJsonIfExists<SearchResult>(searchPaths(searchDir).summary);
}
