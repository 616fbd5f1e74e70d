import { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import { msToTs } from '@temporalio/common/lib/time.js';
import { searchAttributeKeys } from '../workflows/messages.js';

/** Connection helpers shared by the CLI, the worker and the tests: one place that knows the server's setup. */

export const TASK_QUEUE = 'effscale';
export const DEFAULT_NAMESPACE = 'default';
/** Closed searches stay auditable in the UI this long (the dev server's default is 24 h). */
export const RETENTION_DAYS = 30;

export async function connect(address: string, timeoutMs = 30_000): Promise<Connection> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await Connection.connect({ address, connectTimeout: 2000 });
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`cannot reach Temporal at ${address}: ${err instanceof Error ? err.message : String(err)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Registers the search attributes (idempotent: a server that already has them is fine). */
export async function registerSearchAttributes(connection: Connection, namespace = DEFAULT_NAMESPACE): Promise<void> {
  const searchAttributes = Object.fromEntries(
    searchAttributeKeys.map((k) => [k.name, encodeSearchAttributeIndexedValueType(k.type) ?? 0]),
  );
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
  } catch (err) {
    if (!/already exists/i.test(err instanceof Error ? err.message : String(err))) throw err;
  }
}

export async function raiseRetention(connection: Connection, namespace = DEFAULT_NAMESPACE): Promise<void> {
  await connection.workflowService.updateNamespace({
    namespace,
    config: { workflowExecutionRetentionTtl: msToTs(`${RETENTION_DAYS} days`) },
  });
}
