import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chownSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Connection, TLSConfig } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { freePort } from '../../../client/dev-server.js';
import { connect, DEFAULT_NAMESPACE, registerSearchAttributes, RETENTION_DAYS } from '../../../worker/temporal.js';
import { tempStateDir, until } from './harness.js';

/**
 * A production Temporal for the tests: `temporal-server` (not the dev server) on PostgreSQL, every service in one
 * process, the frontend and the services between themselves over mTLS with a private CA. Built and installed by
 * infra/setup-temporal-server.sh; the version is the one the dev server embeds, so only the deployment differs.
 */

const run = promisify(execFile);
/** Keep in step with infra/setup-temporal-server.sh. */
export const TEMPORAL_SERVER_VERSION = process.env.TEMPORAL_SERVER_VERSION ?? '1.32.0';
export const SERVER_NAME = 'temporal.effscale.test';

interface Install {
  server: string;
  sqlTool: string;
  pgBin: string;
}

export interface ProductionTemporal {
  address: string;
  /** What effscale's worker and CLI read (worker/connection.ts) to reach this server over mTLS. */
  env: Record<string, string>;
  /** The CA and the server name, with no client certificate. */
  serverTls: TLSConfig;
  connect(): Promise<Connection>;
  /** A query on the server's PostgreSQL, `:'name'` placeholders bound from vars; returns psql's unaligned rows. */
  psql(sql: string, database: string, vars?: Record<string, string>): string;
  /** Stops the temporal-server process and starts a new one on the same database and ports. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function installOrReason(): Install | string {
  const cache = process.env.EFFSCALE_CACHE ?? join(homedir(), '.cache', 'effscale');
  const bin = join(cache, `temporal-server-${TEMPORAL_SERVER_VERSION}`, 'bin');
  const server = join(bin, 'temporal-server');
  const sqlTool = join(bin, 'temporal-sql-tool');
  if (!existsSync(server) || !existsSync(sqlTool))
    return `temporal-server v${TEMPORAL_SERVER_VERSION} is not built in ${bin}: run bash infra/setup-temporal-server.sh`;
  const pgBin = postgresBin();
  if (!pgBin) return 'PostgreSQL is not installed (/usr/lib/postgresql/*/bin): run bash infra/setup-temporal-server.sh';
  return { server, sqlTool, pgBin };
}

/** Why the production-Temporal test cannot run here, or undefined when everything it needs is installed. */
export function temporalServerMissing(): string | undefined {
  const install = installOrReason();
  return typeof install === 'string' ? install : undefined;
}

/** Debian installs each PostgreSQL major under its own directory, off the PATH: the newest one. */
function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((m) => existsSync(join(root, m, 'bin', 'initdb'))) : [];
  const newest = majors.sort((a, b) => Number(b) - Number(a))[0];
  return newest && join(root, newest, 'bin');
}

export async function startProductionTemporal(): Promise<ProductionTemporal> {
  const install = installOrReason();
  if (typeof install === 'string') throw new Error(install);
  const dir = await tempStateDir('temporal-server');
  certificates(dir);
  const pg = await startPostgres(install.pgBin, await tempStateDir('postgres'));
  try {
    const password = randomBytes(16).toString('hex');
    await createDatabases(install.sqlTool, pg, password);
    const frontendPort = await writeConfig(dir, pg.port, password);
    const address = `127.0.0.1:${frontendPort}`;
    const serverTls: TLSConfig = {
      serverRootCACertificate: readFileSync(join(dir, 'ca.crt')),
      serverNameOverride: SERVER_NAME,
    };
    const tls: TLSConfig = {
      ...serverTls,
      clientCertPair: { crt: readFileSync(join(dir, 'client.crt')), key: readFileSync(join(dir, 'client.key')) },
    };
    let running = await startServer(install.server, dir, address, tls);
    await prepareNamespace(address, tls).catch(async (err: unknown) => {
      await stopChild(running, 'SIGKILL', 5_000);
      throw err;
    });
    return {
      address,
      serverTls,
      env: {
        TEMPORAL_ADDRESS: address,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'ca.crt'),
        TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
        TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.crt'),
        TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.key'),
      },
      connect: () => connect({ address, tls }),
      psql: pg.psql,
      restart: async () => {
        await stopChild(running, 'SIGTERM', 30_000);
        running = await startServer(install.server, dir, address, tls);
      },
      stop: async () => {
        await stopChild(running, 'SIGTERM', 30_000);
        await pg.stop();
      },
    };
  } catch (err) {
    await pg.stop();
    throw err;
  }
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/**
 * A CA; a server certificate for SERVER_NAME, which the services also present to each other (internode mTLS), so
 * it serves as a client certificate too; and a client certificate for effscale and the server's system worker.
 */
function certificates(dir: string): void {
  const ca = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2'];
  openssl([...ca, '-subj', '/CN=effscale-test-ca'], dir);
  for (const [name, ext] of [
    ['server', `subjectAltName=DNS:${SERVER_NAME}\nextendedKeyUsage=serverAuth,clientAuth\n`],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ]) {
    const csr = ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`];
    openssl([...csr, '-subj', `/CN=${name}`], dir);
    writeFileSync(join(dir, `${name}.ext`), ext);
    const sign = ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'];
    openssl([...sign, '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
  }
}

interface Postgres {
  port: number;
  psql(sql: string, database: string, vars?: Record<string, string>): string;
  stop(): Promise<void>;
}

/** PostgreSQL refuses to run as root: a root test runs it as Debian's `postgres` system user. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

async function startPostgres(pgBin: string, dir: string): Promise<Postgres> {
  const user = postgresUser();
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  // The socket sits in this 0700 directory, so trust on it reaches only its owner and root; TCP takes a password.
  const initdb = ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256'];
  execFileSync(join(pgBin, 'initdb'), [...initdb, '--encoding=UTF8', '--locale=C'], { ...user, stdio: 'pipe' });
  const port = await freePort();
  const log = openSync(join(dir, 'postgres.log'), 'a');
  // Four services each open their own pools; fsync is off since this database lives as long as the test.
  const settings = ['listen_addresses=127.0.0.1', 'max_connections=200', 'fsync=off'];
  const args = ['-D', data, '-p', String(port), '-k', dir, ...settings.flatMap((s) => ['-c', s])];
  const child = spawn(join(pgBin, 'postgres'), args, { ...user, stdio: ['ignore', log, log] });
  const stop = async () => {
    await stopChild(child, 'SIGINT', 30_000); // SIGINT: PostgreSQL's fast shutdown
    await rm(data, { recursive: true, force: true });
  };
  const ready = () =>
    run(join(pgBin, 'pg_isready'), ['-h', dir, '-p', String(port)]).then(
      () => true,
      () => {
        if (child.exitCode !== null)
          throw new Error(`PostgreSQL exited with ${child.exitCode}: see ${dir}/postgres.log`);
        return false;
      },
    );
  await until('PostgreSQL to accept connections', ready, 30_000).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  const psql = (sql: string, database: string, vars: Record<string, string> = {}) => {
    const variables = Object.entries(vars).flatMap(([k, v]) => ['-v', `${k}=${v}`]);
    const args = ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1', '-Atq'];
    return execFileSync(join(pgBin, 'psql'), [...args, ...variables], { input: sql, encoding: 'utf8' }).trim();
  };
  return { port, psql, stop };
}

const STORES = [
  { database: 'temporal', schema: 'postgresql/v12/temporal' },
  { database: 'temporal_visibility', schema: 'postgresql/v12/visibility' },
];

/**
 * A role of its own for Temporal and both databases, set up as an operator does: versioning tables at 0.0, then
 * the schema migrated to the newest version (the migrations are embedded in temporal-sql-tool).
 */
async function createDatabases(sqlTool: string, pg: Postgres, password: string): Promise<void> {
  pg.psql(`CREATE ROLE temporal LOGIN CREATEDB PASSWORD '${password}'`, 'postgres');
  for (const { database, schema } of STORES) {
    // Credentials through the environment: never on a command line, which every local user can read.
    const env = {
      ...process.env,
      SQL_PLUGIN: 'postgres12',
      SQL_HOST: '127.0.0.1',
      SQL_PORT: String(pg.port),
      SQL_USER: 'temporal',
      SQL_PASSWORD: password,
      SQL_DATABASE: database,
    };
    for (const args of [['create-database'], ['setup-schema', '-v', '0.0'], ['update-schema', '--schema-name', schema]])
      await run(sqlTool, args, { env });
  }
}

/** The server's static config and its dynamic config; returns the frontend's port. */
async function writeConfig(dir: string, pgPort: number, password: string): Promise<number> {
  const ports = { frontend: 0, history: 0, matching: 0, worker: 0 };
  const services: string[] = [];
  for (const name of Object.keys(ports) as (keyof typeof ports)[]) {
    ports[name] = await freePort();
    const rpc = `grpcPort: ${ports[name]}, membershipPort: ${await freeMembershipPort()}, bindOnIP: 127.0.0.1`;
    services.push(`  ${name}:\n    rpc: { ${rpc} }`);
  }
  const store = (database: string, maxConns: number) =>
    `      sql: { pluginName: postgres12, databaseName: ${database}, connectAddr: "127.0.0.1:${pgPort}", ` +
    `connectProtocol: tcp, user: temporal, password: "${password}", maxConns: ${maxConns}, ` +
    `maxIdleConns: ${maxConns}, maxConnLifetime: 1h }`;
  const ca = join(dir, 'ca.crt');
  const serverTls = `{ certFile: ${dir}/server.crt, keyFile: ${dir}/server.key, requireClientAuth: true, clientCaFiles: [${ca}] }`;
  const clientTls = `{ serverName: ${SERVER_NAME}, rootCaFiles: [${ca}] }`;
  const config = [
    'log: { stdout: false, level: info, outputFile: ' + join(dir, 'temporal.log') + ' }',
    'persistence:',
    '  defaultStore: default',
    '  visibilityStore: visibility',
    '  numHistoryShards: 4',
    '  datastores:',
    '    default:',
    store('temporal', 10),
    '    visibility:',
    store('temporal_visibility', 4),
    'global:',
    '  membership: { maxJoinDuration: 30s, broadcastAddress: 127.0.0.1 }',
    '  tls:',
    `    internode: { server: ${serverTls}, client: ${clientTls} }`,
    `    frontend: { server: ${serverTls} }`,
    // The system worker (deployment, scheduler and batch workflows) is a client of the frontend like any other.
    `    systemWorker: { certFile: ${dir}/client.crt, keyFile: ${dir}/client.key, client: ${clientTls} }`,
    'services:',
    ...services,
    'clusterMetadata:',
    '  enableGlobalNamespace: false',
    '  failoverVersionIncrement: 10',
    '  masterClusterName: active',
    '  currentClusterName: active',
    '  clusterInformation:',
    `    active: { enabled: true, initialFailoverVersion: 1, rpcName: frontend, rpcAddress: "127.0.0.1:${ports.frontend}" }`,
    'dcRedirectionPolicy: { policy: noop }',
    `dynamicConfigClient: { filepath: ${join(dir, 'dynamicconfig.yaml')}, pollInterval: 10s }`,
  ];
  writeFileSync(join(dir, 'temporal.yaml'), config.join('\n') + '\n', { mode: 0o600 });
  writeFileSync(join(dir, 'dynamicconfig.yaml'), DYNAMIC_CONFIG);
  return ports.frontend;
}

/**
 * The SQL stores keep a host's membership port as a SMALLINT (cluster_membership.rpc_port): a port from the
 * ephemeral range, above 32767, makes the server fail at start. A free one below it, then.
 */
async function freeMembershipPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_768);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/**
 * Worker Deployment Versioning (worker/release.ts) is on by default in this server version; pinned here since
 * effscale's workers cannot poll without it. A build's drainage is checked every few seconds, as on the dev
 * server (client/dev-server.ts), instead of every few minutes.
 */
const DYNAMIC_CONFIG = `system.enableDeploymentVersions:
  - value: true
frontend.workerVersioningWorkflowAPIs:
  - value: true
matching.wv.VersionDrainageStatusRefreshInterval:
  - value: 2s
matching.wv.VersionDrainageStatusVisibilityGracePeriod:
  - value: 5s
`;

async function startServer(binary: string, dir: string, address: string, tls: TLSConfig): Promise<ChildProcess> {
  const log = openSync(join(dir, 'temporal.stdio.log'), 'a');
  // --allow-no-auth: mTLS authenticates every caller; an authorizer (per-namespace roles) is not under test.
  const args = ['--config-file', join(dir, 'temporal.yaml'), '--allow-no-auth', 'start'];
  const child = spawn(binary, args, { stdio: ['ignore', log, log] });
  const serving = async () => {
    if (child.exitCode !== null)
      throw new Error(`temporal-server exited with ${child.exitCode}: see ${dir}/temporal.log and temporal.stdio.log`);
    const connection = await connect({ address, tls }, 0).catch(() => undefined);
    await connection?.close();
    return connection !== undefined;
  };
  await until('temporal-server to serve', serving, 120_000).catch(async (err: unknown) => {
    await stopChild(child, 'SIGKILL', 5_000);
    throw err;
  });
  return child;
}

/**
 * A fresh server has only its system namespace: `default` is registered as an operator would, with effscale's
 * retention, and the search attributes added (registerSearchAttributes returns once a query takes them).
 */
async function prepareNamespace(address: string, tls: TLSConfig): Promise<void> {
  const connection = await connect({ address, tls });
  try {
    await connection.workflowService.registerNamespace({
      namespace: DEFAULT_NAMESPACE,
      workflowExecutionRetentionPeriod: msToTs(`${RETENTION_DAYS} days`),
    });
    // The namespace reaches each service's cache within its refresh interval (2 s): until then adding the
    // attributes fails.
    await retry('the search attributes to be added', () => registerSearchAttributes(connection), 60_000);
  } finally {
    await connection.close();
  }
}

async function retry(what: string, attempt: () => Promise<unknown>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await attempt();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: err });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
