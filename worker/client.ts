import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { resolveBaseline } from '../scaling/input.js';
import { parseSpec, SpecError } from '../scaling/validate.js';
import { SearchSpec } from '../spec/search.js';
import type { SearchExtension } from '../activities/types.js';
import type { searchWorkflow } from '../workflows/search.js';
import { SearchNameAttribute, StageAttribute } from '../workflows/messages.js';
import type { SearchOptions, SearchResult, SearchState } from '../workflows/state.js';
import { TASK_QUEUE } from './temporal.js';

/** The client side of a search: spec loading, the deterministic workflow id, start-or-attach, extension. */

const RESUMABLE = ['FAILED', 'TERMINATED', 'TIMED_OUT'];

export type SearchHandle = WorkflowHandle<typeof searchWorkflow>;

export async function loadSearchSpec(file: string): Promise<SearchSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new SpecError(`search spec ${file}: cannot read the file (expected a YAML search spec)`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new SpecError(`search spec ${file}: not valid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  const spec = parseSpec(SearchSpec, raw, `search spec ${file}`);
  const baseline = resolveBaseline(spec.baseline, `search spec ${file}: baseline`);
  const dataset = spec.task.dataset.path;
  if (!existsSync(dataset))
    throw new SpecError(`search spec ${file}:\n  task.dataset.path: no such folder: ${dataset}`);
  return {
    ...spec,
    baseline,
    ...(spec.registry.path !== undefined && { registry: { ...spec.registry, path: resolve(spec.registry.path) } }),
  };
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

/** What the search computes (not how it runs: execution settings may change without forking the search). */
export function specHash(spec: SearchSpec): string {
  const { execution: _execution, ...what } = spec;
  return createHash('sha256')
    .update(JSON.stringify(canonical(what)))
    .digest('hex');
}

export function workflowIdFor(spec: SearchSpec): string {
  return `effscale-${spec.name}-${specHash(spec).slice(0, 10)}`;
}

export function searchDirFor(stateDir: string, workflowId: string): string {
  return join(resolve(stateDir), 'searches', workflowId);
}

export function searchOptions(spec: SearchSpec, stateDir: string): SearchOptions {
  const searchId = workflowIdFor(spec);
  const x = spec.execution;
  return {
    searchId,
    name: spec.name,
    specHash: specHash(spec),
    searchDir: searchDirFor(stateDir, searchId),
    higherIsBetter: spec.task.metric === 'accuracy',
    parallelism: x.parallelism,
    maxAttempts: x.retries + 1,
    failureBudget: x.failureBudget,
    heartbeatTimeout: x.heartbeatTimeout,
    candidateTimeout: x.candidateTimeout,
    continueAsNewAfter: x.continueAsNewAfter,
    finalists: spec.final.finalists,
  };
}

export interface Attached {
  handle: SearchHandle;
  workflowId: string;
  /** False when a search with this name and spec already existed (running or finished). */
  started: boolean;
}

/** Starts the search, or re-attaches to the one this name and spec already started. */
export async function startOrAttach(client: Client, spec: SearchSpec, stateDir: string): Promise<Attached> {
  const options = searchOptions(spec, stateDir);
  const workflowId = options.searchId;
  const existing = client.workflow.getHandle<typeof searchWorkflow>(workflowId);
  try {
    const { status } = await existing.describe();
    const previous = await readSummary(options.searchDir);
    // A failed search is resumed (finished candidates kept); a running, completed or cancelled one re-attached.
    if (!RESUMABLE.includes(status.name) || !previous) return { handle: existing, workflowId, started: false };
    const handle = await extendFinished(client, existing, previous, options, undefined);
    return { handle, workflowId, started: true };
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  await mkdir(options.searchDir, { recursive: true });
  await writeFile(join(options.searchDir, 'spec.json'), JSON.stringify(spec, null, 2));
  const handle = await client.workflow.start<typeof searchWorkflow>('searchWorkflow', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [{ options }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: [
      { key: SearchNameAttribute, value: spec.name },
      { key: StageAttribute, value: 'plan' },
    ],
    memo: { specHash: options.specHash, searchDir: options.searchDir },
  });
  return { handle, workflowId, started: true };
}

export async function readSummary(searchDir: string): Promise<SearchResult | undefined> {
  return readFile(join(searchDir, 'summary.json'), 'utf8')
    .then((t) => JSON.parse(t) as SearchResult)
    .catch(() => undefined);
}

/**
 * Extends (or resumes) a closed search: a new run of the same workflow id that starts from the finished run's state,
 * so no candidate is trained again, and plans the extension.
 */
export async function extendFinished(
  client: Client,
  handle: SearchHandle,
  previous: SearchResult,
  options: SearchOptions,
  extension: SearchExtension | undefined,
): Promise<SearchHandle> {
  const carried: SearchState = {
    ...previous.state,
    stage: 'search',
    family: [],
    finals: [],
    registered: [],
    runs: previous.state.runs + 1,
  };
  for (const g of Object.values(carried.groups))
    if (g.state === 'cancelled' || g.state === 'running') g.state = 'pending';
  return client.workflow.start<typeof searchWorkflow>('searchWorkflow', {
    taskQueue: TASK_QUEUE,
    workflowId: handle.workflowId,
    args: [{ options, carried, extensions: extension ? [extension] : [] }],
    typedSearchAttributes: [
      { key: SearchNameAttribute, value: options.name },
      { key: StageAttribute, value: 'search' },
    ],
    memo: { specHash: options.specHash, searchDir: options.searchDir },
  });
}
