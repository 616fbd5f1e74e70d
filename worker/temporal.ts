import { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import { msToTs } from '@temporalio/common/lib/time.js';
import { searchAttributeKeys } from '../workflows/messages.js';
import type { ServerConnection } from './connection.js';

/** Connection helpers shared by the CLI, the worker and the tests: one place that knows the server's setup. */

export const TASK_QUEUE = 'effscale';
export const DEFAULT_NAMESPACE = 'default';
/** Closed searches stay auditable in the UI this long (the dev server's default is 24 h). */
export const RETENTION_DAYS = 30;

/** Connects, retrying while the server starts (a dev server just launched, a frontend restarting). */
export async function connect(server: ServerConnection, timeoutMs = 30_000): Promise<Connection> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await Connection.connect({ ...server, connectTimeout: 2000 });
    } catch (err) {
      if (Date.now() > deadline) {
        const why = reason(err);
        throw new Error(`cannot reach Temporal at ${server.address}${server.tls ? ' (TLS)' : ''}: ${why}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The SDK wraps the server's answer ("Failed to connect"): the cause says what happened (401, a bad certificate). */
function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
  return cause ? `${message}: ${cause}` : message;
}

/**
 * Registers the search attributes (idempotent: a server that already has them is fine). When it did add them, it
 * returns once a visibility query takes them: a real server's services learn of new attributes within their cache
 * refresh (about 2 s), and until then a search's first query by them fails with "invalid search attribute".
 */
export async function registerSearchAttributes(
  connection: Connection,
  namespace = DEFAULT_NAMESPACE,
  timeoutMs = 30_000,
): Promise<void> {
  const searchAttributes = Object.fromEntries(
    searchAttributeKeys.map((k) => [k.name, encodeSearchAttributeIndexedValueType(k.type) ?? 0]),
  );
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
  } catch (err) {
    if (/already exists/i.test(err instanceof Error ? err.message : String(err))) return;
    throw err;
  }
  const query = searchAttributeKeys.map((k) => `${k.name} IS NULL`).join(' AND ');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await connection.workflowService.countWorkflowExecutions({ namespace, query });
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`the search attributes were added but queries refuse them: ${reason(err)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * Why the search attributes could not be registered, and what to do: Temporal Cloud (and servers that keep the
 * operator API to admins) refuse it to ordinary keys, so an administrator creates them once.
 */
export function attributesHint(err: unknown): string {
  const names = searchAttributeKeys.map((k) => `${k.name} (${k.type})`).join(', ');
  return (
    `effscale: could not register the search attributes ${names}: ${err instanceof Error ? err.message : String(err)}. ` +
    'Searches need them: have an administrator create them once ' +
    '(`temporal operator search-attribute create`, or the namespace settings on Temporal Cloud).'
  );
}

export async function raiseRetention(connection: Connection, namespace = DEFAULT_NAMESPACE): Promise<void> {
  await connection.workflowService.updateNamespace({
    namespace,
    config: { workflowExecutionRetentionTtl: msToTs(`${RETENTION_DAYS} days`) },
  });
}
