import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { resolveBaseline } from '../scaling/input.js';
import { parseSpec, SpecError } from '../scaling/validate.js';
import { SearchSpec } from '../schemas/search.js';
import type { SearchExtension } from '../search/types.js';
import type { searchWorkflow } from '../workflows/search.js';
import { SearchNameAttribute, StageAttribute } from '../workflows/messages.js';
import type { SearchInput, SearchOptions } from '../search/state.js';
import { payloadCodec } from '../worker/codec.js';
import { TASK_QUEUE } from '../worker/temporal.js';
import { runOptions } from '../search/run.js';

/** The client side of a search: spec loading, the deterministic workflow id, start-or-attach, extension. */

const RESUMABLE = ['FAILED', 'TERMINATED', 'TIMED_OUT'];

export type SearchHandle = WorkflowHandle<typeof searchWorkflow>;

/**
 * Reads and validates a search spec. The dataset folder is checked here only when the search trains on this
 * machine: a cluster's workers see their own volumes (their preflight checks the dataset there).
 */
export async function loadSearchSpec(
  file: string,
  { datasetOnThisMachine = true }: { datasetOnThisMachine?: boolean } = {},
): Promise<SearchSpec> {
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
  if (datasetOnThisMachine && !existsSync(dataset))
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

/** The options a search starts with: its identity, and the run options the spec gives (search/run.ts). */
export function searchOptions(spec: SearchSpec): SearchOptions {
  return { searchId: workflowIdFor(spec), name: spec.name, specHash: specHash(spec), ...runOptions(spec) };
}

/**
 * The task queue of a search run by the session that started it (single-machine mode): only that session's worker
 * polls it, so a worker never takes another search's trainings. Searches for standing workers (`effscale worker`,
 * `effscale dev`, a cluster) use the shared TASK_QUEUE.
 */
export function sessionQueue(workflowId: string): string {
  return `${TASK_QUEUE}/${workflowId}`;
}

export interface Attached {
  handle: SearchHandle;
  workflowId: string;
  /** The queue the search's workflows and activities are on: for a re-attached search, the one it started with. */
  taskQueue: string;
  /** False when a search with this name and spec already existed (running or finished). */
  started: boolean;
}

/**
 * Starts the search, or re-attaches to the one this name and spec already started. Nothing touches the client's
 * filesystem: the spec travels in the workflow input and the workers keep every artifact in their own store.
 */
export async function startOrAttach(
  client: Client,
  spec: SearchSpec,
  queueFor: (workflowId: string) => string = () => TASK_QUEUE,
): Promise<Attached> {
  const options = searchOptions(spec);
  const workflowId = options.searchId;
  const taskQueue = queueFor(workflowId);
  const existing = client.workflow.getHandle<typeof searchWorkflow>(workflowId);
  try {
    const { status, taskQueue: current } = await existing.describe();
    // A failed search is resumed (finished candidates kept); a running, completed or cancelled one re-attached.
    if (!RESUMABLE.includes(status.name)) return { handle: existing, workflowId, started: false, taskQueue: current };
    const handle = await extendFinished(client, workflowId, { options, spec }, undefined, taskQueue);
    return { handle, workflowId, started: true, taskQueue };
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  const handle = await client.workflow.start<typeof searchWorkflow>('searchWorkflow', {
    taskQueue,
    workflowId,
    args: [{ options, spec }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: [
      { key: SearchNameAttribute, value: spec.name },
      { key: StageAttribute, value: 'plan' },
    ],
    memo: { specHash: options.specHash },
  });
  return { handle, workflowId, started: true, taskQueue };
}

/** The options the search's latest run started with (the spec included), read from its history. */
export async function searchOptionsOf(handle: SearchHandle): Promise<SearchOptions> {
  const history = await handle.fetchHistory();
  const sealed = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
  // History as the server stores it: sealed when payloads are encrypted (worker/codec.ts).
  const payloads = sealed?.length ? await (payloadCodec()?.decode(sealed) ?? sealed) : undefined;
  const input = payloads?.[0] ? defaultPayloadConverter.fromPayload<SearchInput>(payloads[0]) : undefined;
  if (!input?.options) throw new Error(`search ${handle.workflowId}: its history holds no search input`);
  return input.options;
}

/**
 * Extends (or resumes) a closed search: a new run of the same workflow id that starts from the state the closed
 * run recorded in the workers' store (so no candidate is trained again), and plans the extension.
 */
export async function extendFinished(
  client: Client,
  workflowId: string,
  { options, spec }: Pick<SearchInput, 'options' | 'spec'>,
  extension: SearchExtension | undefined,
  taskQueue = TASK_QUEUE,
): Promise<SearchHandle> {
  return client.workflow.start<typeof searchWorkflow>('searchWorkflow', {
    taskQueue,
    workflowId,
    args: [{ options, ...(spec && { spec }), resume: true, extensions: extension ? [extension] : [] }],
    typedSearchAttributes: [
      { key: SearchNameAttribute, value: options.name },
      { key: StageAttribute, value: 'search' },
    ],
    memo: { specHash: options.specHash },
  });
}
