import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, createWriteStream, readFileSync } from 'node:fs';
import { freePort } from '../../client/dev-server.js';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';

/**
 * A real Kubernetes control plane for tests: etcd (Debian) + kube-apiserver (built from the Go module proxy by
 * infra/setup-k8s.sh) with RBAC on, token auth for an admin, and ServiceAccount tokens minted through the
 * TokenRequest API so the executor runs with exactly the rights k8s/ grants it.
 */

export const K8S_VERSION = process.env.K8S_VERSION ?? '1.34.4';

/** A Kubernetes command built by infra/setup-k8s.sh (KUBE_APISERVER, KUBECTL… override one). */
export function k8sBinary(name: string): string {
  const cache = process.env.EFFSCALE_CACHE ?? join(homedir(), '.cache', 'effscale');
  const override = process.env[name.replace(/-/g, '_').toUpperCase()];
  const bin = override ?? join(cache, `k8s-${K8S_VERSION}`, 'bin', name);
  if (!existsSync(bin)) {
    const setup = name === 'kube-apiserver' ? 'infra/setup-k8s.sh' : 'infra/setup-k8s-node.sh';
    throw new Error(
      `${name} v${K8S_VERSION} not found at ${bin}: run \`bash ${setup}\` (or \`npm run setup -- --for-tests\`) to build it from the Go module proxy`,
    );
  }
  return bin;
}

export const apiserverBinary = () => k8sBinary('kube-apiserver');

export function etcdBinary(): string {
  const bin = process.env.ETCD ?? '/usr/bin/etcd';
  if (!existsSync(bin))
    throw new Error(`etcd not found at ${bin}: run \`bash infra/setup-k8s.sh\` (installs etcd-server)`);
  return bin;
}

export { freePort };

/** A single-member etcd on loopback: the test cluster's and the real node's. */
export function etcdArgs(dataDir: string, clientPort: number, peerPort: number): string[] {
  return [
    `--data-dir=${dataDir}`,
    `--listen-client-urls=http://127.0.0.1:${clientPort}`,
    `--advertise-client-urls=http://127.0.0.1:${clientPort}`,
    `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
  ];
}

export function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** CA, a serving certificate for 127.0.0.1/localhost, and the ServiceAccount token signing key pair. */
function makeCertificates(dir: string): void {
  openssl(['genrsa', '-out', 'ca.key', '2048'], dir);
  openssl(
    ['req', '-x509', '-new', '-key', 'ca.key', '-days', '2', '-subj', '/CN=effscale-test-ca', '-out', 'ca.crt'],
    dir,
  );
  openssl(['genrsa', '-out', 'server.key', '2048'], dir);
  openssl(['req', '-new', '-key', 'server.key', '-subj', '/CN=kube-apiserver', '-out', 'server.csr'], dir);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2'].concat([
      '-extfile',
      'san.ext',
      '-out',
      'server.crt',
    ]),
    dir,
  );
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

export function kubeConfigFor(server: string, caFile: string, user: string, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server, caFile }],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: 'test', user }],
    currentContext: user,
  });
  return kc;
}

export interface TestCluster {
  /** As the binary reports it (`Kubernetes v1.34.4`). */
  version: string;
  server: string;
  dir: string;
  caFile: string;
  admin: KubeConfig;
  /** A kubeconfig file (and object) holding a fresh TokenRequest token of the ServiceAccount. */
  serviceAccountKubeConfig(namespace: string, name: string): Promise<{ kubeConfig: KubeConfig; path: string }>;
  /** Creates (or server-side dry-runs) objects as the admin; returns them as the server stored them. */
  apply(objects: KubernetesObject[], options?: { dryRun?: boolean }): Promise<KubernetesObject[]>;
  stop(): Promise<void>;
}

export function startProcess(bin: string, args: string[], logFile: string): ChildProcess {
  const log = createWriteStream(logFile);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

async function waitReady(server: string, caFile: string, token: string, processes: ChildProcess[], logFile: string) {
  const deadline = Date.now() + 90_000;
  const kc = kubeConfigFor(server, caFile, 'admin', token);
  const core = kc.makeApiClient(CoreV1Api);
  let lastError: unknown;
  while (Date.now() < deadline) {
    for (const p of processes) {
      if (p.exitCode !== null) {
        const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
        throw new Error(`control plane process exited with ${p.exitCode}:\n${tail}`);
      }
    }
    try {
      // /readyz flips before the default namespace and RBAC bootstrap roles exist; listing them needs both.
      await core.readNamespace({ name: 'default' });
      return;
    } catch (e) {
      lastError = e;
      await sleep(500);
    }
  }
  throw new Error(`kube-apiserver not ready after 90 s: ${String(lastError)} (log: ${logFile})`);
}

export async function startCluster(): Promise<TestCluster> {
  const apiserver = apiserverBinary();
  const dir = mkdtempSync(join(tmpdir(), 'effscale-k8s-'));
  // etcd on tmpfs: Debian's etcd 3.4 has no --unsafe-no-fsync, and fsyncs dominate a test cluster's latency.
  const etcdDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'effscale-etcd-'));
  makeCertificates(dir);
  const adminToken = `admin-${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin,"system:masters"\n`);
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcd = startProcess(etcdBinary(), etcdArgs(etcdDir, etcdPort, peerPort), join(dir, 'etcd.log'));
  const api = startProcess(
    apiserver,
    [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      `--cert-dir=${dir}`,
      `--tls-cert-file=${join(dir, 'server.crt')}`,
      `--tls-private-key-file=${join(dir, 'server.key')}`,
      `--client-ca-file=${join(dir, 'ca.crt')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      // No controller-manager runs here, so nothing would create the token/CA objects this plugin waits for.
      '--disable-admission-plugins=ServiceAccount',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      '--v=1',
    ],
    join(dir, 'apiserver.log'),
  );
  const server = `https://127.0.0.1:${apiPort}`;
  const caFile = join(dir, 'ca.crt');
  const stop = async () => {
    await stopProcess(api);
    await stopProcess(etcd);
    rmSync(etcdDir, { recursive: true, force: true });
    if (!process.env.EFFSCALE_KEEP_CLUSTER) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(server, caFile, adminToken, [etcd, api], join(dir, 'apiserver.log'));
  } catch (e) {
    await stop();
    throw e;
  }
  const admin = kubeConfigFor(server, caFile, 'admin', adminToken);

  return {
    version: execFileSync(apiserver, ['--version'], { encoding: 'utf8' }).trim(),
    server,
    dir,
    caFile,
    admin,
    serviceAccountKubeConfig: (namespace, name) =>
      serviceAccountKubeConfig({ admin, server, caFile, dir }, namespace, name),
    apply: (list, options = {}) => createObjects(admin, list, options),
    stop,
  };
}

/** Where a cluster is reached, for kubeconfig files written next to its other state. */
export interface ClusterAccess {
  admin: KubeConfig;
  server: string;
  caFile: string;
  dir: string;
}

/** A kubeconfig file (and object) holding a fresh TokenRequest token of the ServiceAccount. */
export async function serviceAccountKubeConfig(
  cluster: ClusterAccess,
  namespace: string,
  name: string,
): Promise<{ kubeConfig: KubeConfig; path: string }> {
  const request = await cluster.admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 3600 } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  const kubeConfig = kubeConfigFor(cluster.server, cluster.caFile, `system:serviceaccount:${namespace}:${name}`, token);
  const path = join(cluster.dir, `kubeconfig-${namespace}-${name}.json`);
  writeFileSync(path, kubeConfig.exportConfig());
  return { kubeConfig, path };
}

/** Creates (or server-side dry-runs) objects as the given user; returns them as the server stored them. */
export async function createObjects(
  kubeConfig: KubeConfig,
  list: KubernetesObject[],
  options: { dryRun?: boolean } = {},
): Promise<KubernetesObject[]> {
  const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
  const created: KubernetesObject[] = [];
  for (const object of list) created.push(await objects.create(object, undefined, options.dryRun ? 'All' : undefined));
  return created;
}
