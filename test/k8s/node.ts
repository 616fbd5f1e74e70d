import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { etcdArgs, etcdBinary, freePort, k8sBinary, openssl, startProcess, stopProcess } from './cluster.js';
import { nodeImage, pauseImage, type LocalImage } from './images.js';
import { diffHost, processesMentioning, restoreHost, snapshotHost, unmountUnder, type HostSnapshot } from './host.js';

/**
 * A real single-node cluster for tests: etcd (Debian), kube-apiserver, kube-controller-manager, kube-scheduler and
 * a kubelet (built from the Go module proxy by infra/setup-k8s-node.sh), containerd + runc + the CNI bridge plugin
 * (Debian), all under one temporary directory with their own ports and sockets. Client-certificate auth everywhere
 * (Node,RBAC authorization, NodeRestriction); the node advertises `nvidia.com/gpu` capacity (counted only).
 * Images are built locally with buildah (images.ts) and imported into this containerd. `stop()` puts the host back
 * as it was (host.ts) and reports anything it could not undo.
 */

export interface RealNodeOptions {
  /** `nvidia.com/gpu` capacity patched into the node status (0: none). */
  gpus?: number;
  /** Images to import besides the pause image. */
  images?: LocalImage[];
}

export interface Versions {
  apiserver: string;
  kubelet: string;
  containerd: string;
}

export interface RealNode {
  versions: Versions;
  server: string;
  /** The cluster CA, which signs the API server's and the kubelet's serving certificates. */
  caFile: string;
  dir: string;
  nodeName: string;
  nodeIP: string;
  admin: KubeConfig;
  /** A kubeconfig file for kubectl as the cluster admin. */
  adminKubeconfig: string;
  /** `localhost/effscale/node:…`: the host's node binary from scratch, imported into containerd. */
  nodeImage: string;
  /** Milliseconds from start to a Ready node with its GPU capacity. */
  startupMs: number;
  /** Stops everything and restores the host; resolves with what differs from before (empty: as found). */
  stop(): Promise<{ leftovers: string[]; teardownMs: number }>;
  /**
   * Stops one control-plane or node component and starts it again with the same flags, for the cluster-fault
   * tests. The kubelet with `containers`: its pods' containers die with it, as on a node that is lost.
   */
  stopComponent(name: Component, options?: { containers?: boolean }): Promise<void>;
  startComponent(name: Component): Promise<void>;
}

export type Component = 'kube-apiserver' | 'kubelet';

const CNI_BIN = '/usr/lib/cni';
const BRIDGE = 'effscale-cni0';
const POD_SUBNET = process.env.EFFSCALE_POD_SUBNET ?? '10.244.0.0/24';
const SERVICE_RANGE = '10.0.0.0/24';

function requireCommand(path: string, pkg: string): string {
  if (!existsSync(path)) throw new Error(`${path} not found: run \`bash infra/setup-k8s-node.sh\` (installs ${pkg})`);
  return path;
}

/** The first IPv4 address of a real interface: the kubelet's node IP and where the API server listens. */
function hostIP(): string {
  if (process.env.EFFSCALE_NODE_IP) return process.env.EFFSCALE_NODE_IP;
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    if (name === BRIDGE) continue;
    const a = addresses?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return a.address;
  }
  throw new Error('no IPv4 address on any interface for the node (set EFFSCALE_NODE_IP)');
}

/** A CA and every certificate the control plane and the kubelet present, signed by it. */
function makeCertificates(dir: string, nodeName: string, nodeIP: string): void {
  openssl(['genrsa', '-out', 'ca.key', '2048'], dir);
  openssl(
    ['req', '-x509', '-new', '-key', 'ca.key', '-days', '2', '-subj', '/CN=effscale-node-ca', '-out', 'ca.crt'],
    dir,
  );
  const issue = (name: string, subject: string, ext: string) => {
    openssl(['genrsa', '-out', `${name}.key`, '2048'], dir);
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
      ].concat(['-extfile', `${name}.ext`, '-out', `${name}.crt`]),
      dir,
    );
  };
  const client = 'extendedKeyUsage=clientAuth\n';
  issue(
    'apiserver',
    '/CN=kube-apiserver',
    `subjectAltName=IP:${nodeIP},IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,` +
      'DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n',
  );
  issue('admin', '/O=system:masters/CN=effscale-admin', client);
  issue('node', `/O=system:nodes/CN=system:node:${nodeName}`, client);
  issue('controller-manager', '/CN=system:kube-controller-manager', client);
  issue('scheduler', '/CN=system:kube-scheduler', client);
  issue('apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', client);
  issue('kubelet', `/CN=${nodeName}`, `subjectAltName=IP:${nodeIP},DNS:${nodeName}\nextendedKeyUsage=serverAuth\n`);
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function writeKubeconfig(dir: string, name: string, server: string): string {
  const path = join(dir, `${name}.kubeconfig`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'effscale', cluster: { server, 'certificate-authority': join(dir, 'ca.crt') } }],
    users: [{ name, user: { 'client-certificate': join(dir, `${name}.crt`), 'client-key': join(dir, `${name}.key`) } }],
    contexts: [{ name, context: { cluster: 'effscale', user: name } }],
    'current-context': name,
  };
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/**
 * containerd with its own root, state, socket, runc root and CNI configuration. `restrict_oom_score_adj` is
 * mandatory here: these VMs deny raising oom_score_adj (no CAP_SYS_RESOURCE), which runc does for every
 * Guaranteed pod's sandbox unless told not to.
 */
function containerdConfig(dir: string, root: string, sandboxImage: string): string {
  const path = join(dir, 'containerd.toml');
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  writeFileSync(
    path,
    [
      'version = 2',
      `root = "${root}"`,
      `state = "${dir}/containerd/state"`,
      'disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", ' +
        '"io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]',
      '[grpc]',
      `  address = "${dir}/containerd/containerd.sock"`,
      '[metrics]',
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${dir}/containerd/opt"`,
      `[${cri}]`,
      `  sandbox_image = "${sandboxImage}"`,
      '  restrict_oom_score_adj = true',
      '  disable_apparmor = true',
      '  stream_server_address = "127.0.0.1"',
      '  stream_server_port = "0"',
      `[${cri}.containerd]`,
      '  snapshotter = "overlayfs"',
      '  default_runtime_name = "runc"',
      `[${cri}.containerd.runtimes.runc]`,
      '  runtime_type = "io.containerd.runc.v2"',
      `[${cri}.containerd.runtimes.runc.options]`,
      '  BinaryName = "/usr/sbin/runc"',
      `  Root = "${dir}/containerd/runc"`,
      '  SystemdCgroup = false',
      `[${cri}.cni]`,
      `  bin_dir = "${CNI_BIN}"`,
      `  conf_dir = "${dir}/cni/net.d"`,
      '',
    ].join('\n'),
  );
  mkdirSync(join(dir, 'cni', 'net.d'), { recursive: true });
  writeFileSync(
    join(dir, 'cni', 'net.d', '10-effscale.conflist'),
    JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: 'effscale',
        plugins: [
          {
            type: 'bridge',
            bridge: BRIDGE,
            isGateway: true,
            ipMasq: true,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: POD_SUBNET }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: join(dir, 'cni', 'ipam'),
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ),
  );
  return path;
}

function kubeletConfig(dir: string, nodeIP: string, port: number): string {
  const path = join(dir, 'kubelet.yaml');
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: nodeIP,
    port,
    healthzPort: 0,
    readOnlyPort: 0,
    tlsCertFile: join(dir, 'kubelet.crt'),
    tlsPrivateKeyFile: join(dir, 'kubelet.key'),
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: join(dir, 'ca.crt') },
    },
    authorization: { mode: 'AlwaysAllow' },
    cgroupDriver: 'cgroupfs',
    failCgroupV1: false,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${dir}/containerd/containerd.sock`,
    podLogsDir: join(dir, 'pod-logs'),
    volumePluginDir: join(dir, 'volume-plugins'),
    evictionHard: {
      'memory.available': '50Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    nodeStatusUpdateFrequency: '4s',
    syncFrequency: '10s',
  };
  // JSON is YAML: the kubelet reads either.
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

function versionOf(bin: string): string {
  return execFileSync(bin, ['--version'], { encoding: 'utf8' })
    .trim()
    .replace(/^Kubernetes /, '');
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

interface Started {
  name: string;
  child: ChildProcess;
  log: string;
}

/** Polls `probe` until it returns a value, failing early when one of `processes` has exited. */
async function until<T>(
  what: string,
  processes: Started[],
  probe: () => Promise<T | undefined>,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    for (const p of processes) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) {
        throw new Error(
          `${p.name} exited (${p.child.exitCode ?? p.child.signalCode}) waiting for ${what}:\n${tail(p.log)}`,
        );
      }
    }
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      lastError = e;
    }
    await sleep(500);
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
  );
}

function adminConfig(server: string, dir: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'effscale', server, caFile: join(dir, 'ca.crt') }],
    users: [{ name: 'admin', certFile: join(dir, 'admin.crt'), keyFile: join(dir, 'admin.key') }],
    contexts: [{ name: 'admin', cluster: 'effscale', user: 'admin' }],
    currentContext: 'admin',
  });
  return kc;
}

function ctr(socket: string, args: string[]): string {
  return execFileSync('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function isReady(node: V1Node | undefined): boolean {
  return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export async function startRealNode(options: RealNodeOptions = {}): Promise<RealNode> {
  const started = Date.now();
  const bins = {
    apiserver: k8sBinary('kube-apiserver'),
    controllerManager: k8sBinary('kube-controller-manager'),
    scheduler: k8sBinary('kube-scheduler'),
    kubelet: k8sBinary('kubelet'),
    etcd: etcdBinary(),
    containerd: requireCommand('/usr/bin/containerd', 'containerd'),
  };
  requireCommand('/usr/sbin/runc', 'runc');
  requireCommand(join(CNI_BIN, 'bridge'), 'containernetworking-plugins');
  // Images first: a cold build must not count against the control plane's timeouts.
  const pause = pauseImage();
  const node = nodeImage();
  const images = [pause, node, ...(options.images ?? [])];

  // A bridge of this name is left from a run that could not tear down: it is ours to remove.
  if (networkInterfaces()[BRIDGE] || existsSync(`/sys/class/net/${BRIDGE}`)) {
    execFileSync('ip', ['link', 'del', BRIDGE], { stdio: 'ignore' });
  }
  const host: HostSnapshot = snapshotHost();
  const dir = mkdtempSync(join(tmpdir(), 'effscale-node-'));
  const etcdDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'effscale-etcd-'));
  const nodeName = 'effscale-node';
  const nodeIP = hostIP();
  const store = imageStore(dir);
  makeCertificates(dir, nodeName, nodeIP);
  const [etcdPort, peerPort, apiPort, kubeletPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const server = `https://${nodeIP}:${apiPort}`;
  const socket = join(dir, 'containerd', 'containerd.sock');
  const processes: Started[] = [];
  const launched = new Map<string, { bin: string; args: string[] }>();
  const start = (name: string, bin: string, args: string[]) => {
    const log = join(dir, `${name}.log`);
    launched.set(name, { bin, args });
    processes.push({ name, child: startProcess(bin, args, log), log });
  };

  const stop = async () => {
    const begin = Date.now();
    const byName = (name: string) => processes.find((p) => p.name === name);
    const kubelet = byName('kubelet');
    const apiserverUp = byName('kube-apiserver');
    // Pods first, through the kubelet: it stops their containers and sandboxes (CNI DEL, network namespace).
    if (kubelet && apiserverUp && kubelet.child.exitCode === null) {
      await deleteAllPods(adminConfig(server, dir).makeApiClient(CoreV1Api)).catch((e: unknown) =>
        console.error(`# teardown: deleting pods: ${String(e)}`),
      );
    }
    for (const name of ['kubelet', 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd']) {
      const p = byName(name);
      if (p) await stopProcess(p.child, name === 'kubelet' ? 15_000 : 5000);
    }
    const containerd = byName('containerd');
    if (containerd && containerd.child.exitCode === null) {
      // Whatever the kubelet left running (it was stopped or crashed), through containerd itself.
      await clearContainers(socket);
      await stopProcess(containerd.child, 10_000);
    }
    // Shims outlive containerd by design; these ones were started for this socket.
    for (const pid of processesMentioning(socket)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(200);
    const errors: string[] = [];
    unmountUnder([dir, store.root], host.mounts, errors);
    store.release();
    errors.push(...restoreHost(host, [BRIDGE]));
    rmSync(etcdDir, { recursive: true, force: true });
    if (!process.env.EFFSCALE_KEEP_CLUSTER) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch (e) {
        errors.push(`rm ${dir}: ${String(e)}`);
      }
    }
    const leftovers = [...errors, ...diffHost(host, snapshotHost())];
    for (const pid of processesMentioning(dir)) leftovers.push(`process ${pid} still mentions ${dir}`);
    return { leftovers, teardownMs: Date.now() - begin };
  };

  try {
    start('containerd', bins.containerd, ['--config', containerdConfig(dir, store.root, pause.name)]);
    start('etcd', bins.etcd, etcdArgs(etcdDir, etcdPort, peerPort));
    start('kube-apiserver', bins.apiserver, [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--secure-port=${apiPort}`,
      `--bind-address=${nodeIP}`,
      `--advertise-address=${nodeIP}`,
      `--cert-dir=${dir}`,
      `--tls-cert-file=${join(dir, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
      `--client-ca-file=${join(dir, 'ca.crt')}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--kubelet-client-certificate=${join(dir, 'apiserver-kubelet-client.crt')}`,
      `--kubelet-client-key=${join(dir, 'apiserver-kubelet-client.key')}`,
      `--kubelet-certificate-authority=${join(dir, 'ca.crt')}`,
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      `--service-cluster-ip-range=${SERVICE_RANGE}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      '--v=1',
    ]);
    const admin = adminConfig(server, dir);
    const core = admin.makeApiClient(CoreV1Api);
    await until('kube-apiserver', processes, async () => (await core.readNamespace({ name: 'default' })) && true);
    start('kube-controller-manager', bins.controllerManager, [
      `--kubeconfig=${writeKubeconfig(dir, 'controller-manager', server)}`,
      '--controllers=*,-nodeipam',
      '--use-service-account-credentials',
      `--service-account-private-key-file=${join(dir, 'sa.key')}`,
      `--root-ca-file=${join(dir, 'ca.crt')}`,
      `--cluster-signing-cert-file=${join(dir, 'ca.crt')}`,
      `--cluster-signing-key-file=${join(dir, 'ca.key')}`,
      '--leader-elect=false',
      '--secure-port=0',
      // A silent node is NotReady after 16 s (4 missed status updates: nodeStatusUpdateFrequency 4s), not 50 s.
      '--node-monitor-grace-period=16s',
      '--v=1',
    ]);
    start('kube-scheduler', bins.scheduler, [
      `--kubeconfig=${writeKubeconfig(dir, 'scheduler', server)}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--v=1',
    ]);
    await until('containerd', processes, async () => {
      ctr(socket, ['version']);
      return true;
    });
    // The image store outlives the node: what an earlier node imported is there already.
    await clearContainers(socket);
    const present = new Set(ctrList(socket, ['images', 'ls', '-q']));
    for (const image of images) if (!present.has(image.name)) ctr(socket, ['images', 'import', image.archive]);
    pruneOtherTags(socket, images);
    const imported = new Set(ctrList(socket, ['images', 'ls', '-q']));
    for (const image of images) {
      if (!imported.has(image.name)) {
        throw new Error(
          `ctr images import ${image.archive} did not create ${image.name} (has: ${[...imported].join(', ')})`,
        );
      }
    }
    start('kubelet', bins.kubelet, [
      `--config=${kubeletConfig(dir, nodeIP, kubeletPort)}`,
      `--kubeconfig=${writeKubeconfig(dir, 'node', server)}`,
      `--root-dir=${join(dir, 'kubelet')}`,
      `--cert-dir=${join(dir, 'kubelet-pki')}`,
      `--hostname-override=${nodeName}`,
      `--node-ip=${nodeIP}`,
      '--v=1',
    ]);
    // The GPUs of a node without a device plugin: patched into its status, again after a kubelet restart.
    const nodeReady = async () => {
      await until('the node Ready', processes, async () =>
        isReady(await core.readNode({ name: nodeName })) ? true : undefined,
      );
      const gpus = options.gpus ?? 0;
      if (gpus === 0) return;
      await core.patchNodeStatus(
        {
          name: nodeName,
          body: [{ op: 'add', path: '/status/capacity/nvidia.com~1gpu', value: String(gpus) }],
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
      await until('nvidia.com/gpu allocatable', processes, async () => {
        const n = await core.readNode({ name: nodeName });
        return n.status?.allocatable?.['nvidia.com/gpu'] === String(gpus) ? true : undefined;
      });
    };
    await nodeReady();
    // Pods need the namespace's ServiceAccount and the CA ConfigMap that the controller-manager creates.
    await until('the default ServiceAccount and kube-root-ca.crt', processes, async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
      await core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: 'default' });
      return true;
    });
    const info = (await core.readNode({ name: nodeName })).status?.nodeInfo;
    const versions: Versions = {
      apiserver: versionOf(bins.apiserver),
      kubelet: info?.kubeletVersion ?? versionOf(bins.kubelet),
      containerd: (info?.containerRuntimeVersion ?? '').replace(/^containerd:\/\//, ''),
    };
    return {
      versions,
      server,
      caFile: join(dir, 'ca.crt'),
      dir,
      nodeName,
      nodeIP,
      admin,
      adminKubeconfig: writeKubeconfig(dir, 'admin', server),
      nodeImage: node.name,
      startupMs: Date.now() - started,
      stop,
      async stopComponent(name, { containers = false } = {}) {
        const i = processes.findIndex((p) => p.name === name);
        if (i < 0) throw new Error(`${name} is not running`);
        await stopProcess(processes[i].child, 15_000);
        processes.splice(i, 1);
        if (containers) await clearContainers(socket);
      },
      async startComponent(name) {
        const how = launched.get(name);
        if (!how) throw new Error(`${name} was never started`);
        start(name, how.bin, how.args);
        if (name === 'kubelet') await nodeReady();
        else await until(name, processes, async () => (await core.readNamespace({ name: 'default' })) && true);
      },
    };
  } catch (e) {
    const { leftovers } = await stop();
    if (leftovers.length) console.error(`# teardown after a failed start left:\n#   ${leftovers.join('\n#   ')}`);
    throw e;
  }
}

/** Every task and container in the store: leftovers of a node that did not stop cleanly, or this one's. */
async function clearContainers(socket: string): Promise<void> {
  for (const id of ctrList(socket, ['tasks', 'ls', '-q'])) tryCtr(socket, ['tasks', 'kill', '-s', 'SIGKILL', id]);
  await sleep(500);
  for (const id of ctrList(socket, ['tasks', 'ls', '-q'])) tryCtr(socket, ['tasks', 'delete', '-f', id]);
  for (const id of ctrList(socket, ['containers', 'ls', '-q'])) tryCtr(socket, ['containers', 'delete', id]);
}

/**
 * Older builds of the requested images (same name, another content tag) only take disk: removed, and their layers
 * with them. containerd collects unreferenced snapshots and content only when told to (`--sync`): without it every
 * commit's trainer image left a 1.5 GB layer behind, and the disk filled within a day.
 */
function pruneOtherTags(socket: string, images: readonly LocalImage[]): void {
  const wanted = new Set(images.map((i) => i.name));
  const repos = new Set(images.map((i) => i.name.slice(0, i.name.lastIndexOf(':'))));
  for (const name of ctrList(socket, ['images', 'ls', '-q'])) {
    const repo = name.slice(0, name.lastIndexOf(':'));
    if (repos.has(repo) && !wanted.has(name)) tryCtr(socket, ['images', 'rm', '--sync', name]);
  }
}

/**
 * containerd's root, where imported images live, kept across nodes in the cache: importing the repository's
 * images took 35–70 s of each node's start. One node uses it at a time (a lock naming its pid); a second node
 * running at once gets a root of its own.
 */
function imageStore(dir: string): { root: string; release(): void } {
  const cache = process.env.EFFSCALE_CACHE ?? join(homedir(), '.cache', 'effscale');
  const root = join(cache, 'k8s-containerd-root');
  const lock = `${root}.lock`;
  mkdirSync(cache, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      return { root, release: () => rmSync(lock, { recursive: true, force: true }) };
    } catch {
      const holder = Number(readFileSync(join(lock, 'pid'), { encoding: 'utf8', flag: 'a+' }));
      if (holder && processAlive(holder)) break;
      rmSync(lock, { recursive: true, force: true });
    }
  }
  return { root: join(dir, 'containerd', 'root'), release: () => undefined };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function ctrList(socket: string, args: string[]): string[] {
  try {
    return ctr(socket, args).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

function tryCtr(socket: string, args: string[]): void {
  try {
    ctr(socket, args);
  } catch {
    // best effort: the next step or the shim kill covers it
  }
}

/** Deletes every pod and waits (up to 60 s) until the kubelet has confirmed each one gone. */
async function deleteAllPods(core: CoreV1Api): Promise<void> {
  const pods = (await core.listPodForAllNamespaces()).items;
  await Promise.all(
    pods.map((p: V1Pod) =>
      core
        .deleteNamespacedPod({
          name: p.metadata?.name ?? '',
          namespace: p.metadata?.namespace ?? '',
          gracePeriodSeconds: 1,
        })
        .catch(() => undefined),
    ),
  );
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && (await core.listPodForAllNamespaces()).items.length > 0) await sleep(500);
}
