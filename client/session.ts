import { defaultStateDir } from '../store/search-dir.js';
import { resolve } from 'node:path';
import { Client, type Connection } from '@temporalio/client';
import { ensureDevServer, type DevServer } from './dev-server.js';
import { dataConverter } from '../worker/codec.js';
import { serverTarget, type ServerConnection } from '../worker/connection.js';
import { attributesHint, connect, DEFAULT_NAMESPACE, registerSearchAttributes } from '../worker/temporal.js';

/**
 * How every CLI command reaches Temporal: `--address` / `TEMPORAL_ADDRESS` for a cluster, else the dev server
 * of the state directory (started when none runs).
 */
export interface SessionOptions {
  address?: string;
  namespace?: string;
  stateDir?: string;
  uiPort?: number;
  /** The dev server listens on every interface (`effscale dev --listen-all`). */
  listenAll?: boolean;
}

export interface Session {
  client: Client;
  connection: Connection;
  address: string;
  /** How this session reached the server: a worker it starts connects the same way. */
  serverConnection: ServerConnection;
  namespace: string;
  stateDir: string;
  /** Web UI base URL, when known (the dev server's). */
  uiUrl?: string;
  server?: DevServer;
  close(): Promise<void>;
}

export async function openSession(options: SessionOptions): Promise<Session> {
  const stateDir = resolve(options.stateDir ?? defaultStateDir());
  const target = serverTarget(options);
  if (target) {
    const { connection: server, namespace } = target;
    const connection = await connect(server);
    await registerSearchAttributes(connection, namespace).catch((err: unknown) => console.error(attributesHint(err)));
    const client = new Client({ connection, namespace, dataConverter: dataConverter() });
    return {
      client,
      connection,
      address: server.address,
      serverConnection: server,
      namespace,
      stateDir,
      close: () => connection.close(),
    };
  }
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const server = await ensureDevServer(stateDir, { uiPort: options.uiPort, listenAll: options.listenAll });
  const client = new Client({ connection: server.connection, namespace, dataConverter: dataConverter() });
  return {
    client,
    connection: server.connection,
    address: server.address,
    serverConnection: { address: server.address },
    namespace,
    stateDir,
    uiUrl: server.uiUrl,
    server,
    close: () => server.stop(),
  };
}

export function workflowUiUrl(session: Session, workflowId: string): string | undefined {
  return (
    session.uiUrl && `${session.uiUrl}/namespaces/${session.namespace}/workflows/${encodeURIComponent(workflowId)}`
  );
}
