import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import {
  ApiException,
  CoreV1Api,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';

/**
 * Plays the kubelet (and the scheduler's binding step) through the real API: registers a Node with GPUs, binds
 * pending pods that fit, runs each container's command as a local process with its volumes mapped to local
 * folders, enforces the memory limit (OOMKilled), and reports Running / Succeeded / Failed with the exit code and
 * the termination message through pods/status. Deleting a pod kills its process, as a kubelet would.
 * Container logs are served the kubelet's way: an HTTPS endpoint (`/containerLogs/<ns>/<pod>/<container>`, with
 * `follow`) advertised as the node's kubeletEndpoint, which the API server proxies `pods/log` to.
 */

export interface NodeAgentOptions {
  kubeConfig: KubeConfig;
  nodeName?: string;
  gpus?: number;
  labels?: Record<string, string>;
  /** Images this node "has"; any other image fails with ErrImagePull / ImagePullBackOff. */
  images: string[];
  /** Path prefixes as the pod sees them → local folders (`/app` → the checkout; claim mount paths → folders). */
  paths: Record<string, string>;
}

/** One container's stdout and stderr as the kubelet would keep them, with the clients following it. */
interface ContainerLog {
  text: string;
  done: boolean;
  followers: Set<ServerResponse>;
}

const LOG_LIMIT = 1 << 20;

interface Running {
  child: ChildProcess;
  startedAt: Date;
  terminationLog: string;
  output: string;
  oom: boolean;
}

const QUANTITY_UNITS: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 };

function bytes(quantity: string | undefined): number | undefined {
  const match = quantity?.match(/^(\d+(?:\.\d+)?)([KMG]i?|k)?$/);
  return match ? Number(match[1]) * (QUANTITY_UNITS[match[2] ?? ''] ?? 1) : undefined;
}

function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

export class NodeAgent {
  readonly nodeName: string;
  /** Every pod name this node ever saw, by candidate label: the "never two pods for one candidate" check. */
  readonly seen = new Map<string, Set<string>>();
  /** The same per search label, then candidate label: candidate ids repeat across searches of one grid. */
  private readonly seenInSearch = new Map<string, Map<string, Set<string>>>();
  private readonly core: CoreV1Api;
  private readonly running = new Map<string, Running>();
  private readonly pending = new Map<string, V1Pod>();
  /** Pod UIDs already started: a pod deleted and created again under the same name is a new pod to run. */
  private readonly handled = new Set<string>();
  private readonly logs = new Map<string, ContainerLog>();
  private readonly dir = mkdtempSync(join(tmpdir(), 'effscale-node-'));
  private kubelet?: Server;
  private controller?: AbortController;
  private ticker?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly options: NodeAgentOptions) {
    this.nodeName = options.nodeName ?? 'gpu-node-1';
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
  }

  async start(): Promise<void> {
    const kubeletPort = await this.serveLogs();
    const gpus = String(this.options.gpus ?? 4);
    const capacity = { cpu: '64', memory: '256Gi', pods: '110', 'nvidia.com/gpu': gpus };
    await this.core
      .createNode({ body: { metadata: { name: this.nodeName, labels: this.options.labels ?? {} } } })
      .catch((e: unknown) => {
        if (!(e instanceof ApiException && e.code === 409)) throw e;
      });
    await this.core.patchNodeStatus(
      {
        name: this.nodeName,
        body: {
          status: {
            capacity,
            allocatable: capacity,
            conditions: [
              { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'effscale test node agent' },
            ],
            addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
            daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } },
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    this.controller = await new Watch(this.options.kubeConfig).watch(
      '/api/v1/pods',
      {},
      (type: string, pod: V1Pod) => void this.onEvent(type, pod).catch((e: unknown) => this.log(e)),
      () => {
        if (!this.stopped) void this.start();
      },
    );
    // start() runs again when the watch ends; one scheduling ticker only.
    clearInterval(this.ticker);
    this.ticker = setInterval(() => void this.schedule().catch((e: unknown) => this.log(e)), 300);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.controller?.abort();
    clearInterval(this.ticker);
    for (const run of this.running.values()) run.child.kill('SIGKILL');
    for (const log of this.logs.values()) for (const follower of log.followers) follower.end();
    await new Promise((resolve) => (this.kubelet ? this.kubelet.close(resolve) : resolve(null)));
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * The kubelet's log endpoint over TLS with a self-signed certificate (the API server verifies kubelet serving
   * certificates only when given --kubelet-certificate-authority). Started once; returns its port.
   */
  private async serveLogs(): Promise<number> {
    if (!this.kubelet) {
      const [key, cert] = [join(this.dir, 'kubelet.key'), join(this.dir, 'kubelet.crt')];
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert].concat([
          '-days',
          '2',
          '-subj',
          `/CN=${this.nodeName}`,
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ]),
        {
          stdio: 'pipe',
        },
      );
      const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
        const url = new URL(req.url ?? '/', 'https://node');
        const match = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
        const log = match ? this.logs.get(`${match[1]}/${match[2]}`) : undefined;
        if (!log) {
          res.writeHead(404).end('container not found');
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write(log.text);
        if (log.done || url.searchParams.get('follow') !== 'true') {
          res.end();
          return;
        }
        log.followers.add(res);
        res.once('close', () => log.followers.delete(res));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      this.kubelet = server;
    }
    return (this.kubelet.address() as AddressInfo).port;
  }

  /** Every pod name the API ever showed for each candidate of a search (by their label values). */
  podsOfSearch(searchLabel: string): Map<string, string[]> {
    const candidates = this.seenInSearch.get(searchLabel) ?? new Map<string, Set<string>>();
    return new Map([...candidates].map(([candidate, pods]) => [candidate, [...pods]]));
  }

  /** Pod names per candidate that the API ever showed, across restarts of the executor. */
  podsFor(candidateLabel: string): string[] {
    return [...(this.seen.get(candidateLabel) ?? [])];
  }

  private log(e: unknown): void {
    if (!this.stopped && !(e instanceof ApiException && (e.code === 404 || e.code === 409))) {
      console.error('node-agent:', e instanceof Error ? e.message : e);
    }
  }

  private key(pod: V1Pod): string {
    return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  }

  private async onEvent(type: string, pod: V1Pod): Promise<void> {
    if (!['ADDED', 'MODIFIED', 'DELETED'].includes(type) || !pod.metadata?.name) return;
    const key = this.key(pod);
    const candidate = pod.metadata?.labels?.['effscale.dev/candidate'];
    if (candidate) {
      this.seen.set(candidate, (this.seen.get(candidate) ?? new Set()).add(pod.metadata.name));
      const search = pod.metadata.labels?.['effscale.dev/search'] ?? '';
      const candidates = this.seenInSearch.get(search) ?? new Map<string, Set<string>>();
      candidates.set(candidate, (candidates.get(candidate) ?? new Set()).add(pod.metadata.name));
      this.seenInSearch.set(search, candidates);
    }
    if (type === 'DELETED') {
      this.pending.delete(key);
      this.logs.delete(key);
      this.running.get(key)?.child.kill('SIGKILL');
      return;
    }
    if (pod.metadata?.deletionTimestamp) {
      this.pending.delete(key);
      await this.terminate(pod);
      return;
    }
    if (!pod.spec?.nodeName) {
      this.pending.set(key, pod);
      await this.schedule();
    } else if (
      pod.spec.nodeName === this.nodeName &&
      !this.handled.has(pod.metadata.uid ?? key) &&
      !pod.status?.phase?.match(/Succeeded|Failed/)
    ) {
      this.handled.add(pod.metadata.uid ?? key);
      await this.run(pod);
    }
  }

  /** Graceful deletion: stop the process, then remove the object (the kubelet's final delete with grace 0). */
  private async terminate(pod: V1Pod): Promise<void> {
    const key = this.key(pod);
    const run = this.running.get(key);
    if (run) {
      run.child.kill('SIGTERM');
      const timer = setTimeout(() => run.child.kill('SIGKILL'), 2000);
      await new Promise((resolve) => (run.child.exitCode !== null ? resolve(null) : run.child.once('exit', resolve)));
      clearTimeout(timer);
    }
    await this.core
      .deleteNamespacedPod({
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? '',
        gracePeriodSeconds: 0,
      })
      .catch((e: unknown) => this.log(e));
  }

  private gpusOf(pod: V1Pod): number {
    return Number(pod.spec?.containers.reduce((n, c) => n + Number(c.resources?.limits?.['nvidia.com/gpu'] ?? 0), 0));
  }

  private fits(pod: V1Pod, usedGpus: number): string | undefined {
    const labels = this.options.labels ?? {};
    for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) {
      if (labels[k] !== v) return `node(s) didn't match Pod's node affinity/selector (${k}=${v})`;
    }
    if (usedGpus + this.gpusOf(pod) > (this.options.gpus ?? 4)) return 'Insufficient nvidia.com/gpu';
    return undefined;
  }

  private async schedule(): Promise<void> {
    if (this.stopped || this.pending.size === 0) return;
    const pods = await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.nodeName}` });
    let used = pods.items
      .filter((p) => !p.status?.phase?.match(/Succeeded|Failed/))
      .reduce((n, p) => n + this.gpusOf(p), 0);
    for (const [key, pod] of this.pending) {
      const why = this.fits(pod, used);
      const name = pod.metadata?.name ?? '';
      const namespace = pod.metadata?.namespace ?? '';
      if (why) {
        await this.patchStatus(pod, {
          conditions: [
            {
              type: 'PodScheduled',
              status: 'False',
              reason: 'Unschedulable',
              message: `0/1 nodes are available: ${why}`,
            },
          ],
        });
        continue;
      }
      this.pending.delete(key);
      used += this.gpusOf(pod);
      await this.core.createNamespacedPodBinding({
        name,
        namespace,
        body: { metadata: { name, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: this.nodeName } },
      });
    }
  }

  private async patchStatus(pod: V1Pod, status: Record<string, unknown>): Promise<void> {
    await this.core
      .patchNamespacedPodStatus(
        { name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '', body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch((e: unknown) => this.log(e));
  }

  private mapPath(value: string): string {
    const prefixes = Object.keys(this.options.paths).sort((a, b) => b.length - a.length);
    for (const prefix of prefixes) {
      if (value === prefix || value.startsWith(`${prefix}/`))
        return this.options.paths[prefix] + value.slice(prefix.length);
    }
    return value;
  }

  private async run(pod: V1Pod): Promise<void> {
    const container = pod.spec?.containers[0];
    if (!container) return;
    const key = this.key(pod);
    const image = container.image ?? '';
    const base = { hostIP: '127.0.0.1', podIP: '127.0.0.1', startTime: new Date().toISOString() };
    const containerBase = { name: container.name, image, imageID: '', ready: false, restartCount: 0 };
    if (!this.options.images.includes(image)) {
      const waiting = { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` };
      await this.patchStatus(pod, {
        ...base,
        phase: 'Pending',
        containerStatuses: [{ ...containerBase, state: { waiting } }],
      });
      return;
    }
    const terminationLog = join(this.dir, `${pod.metadata?.uid}.termination-log`);
    writeFileSync(terminationLog, '');
    const paths = {
      ...this.options.paths,
      [container.terminationMessagePath ?? '/dev/termination-log']: terminationLog,
    };
    const mapped = (v: string) => {
      for (const [prefix, local] of Object.entries(paths)) if (v === prefix) return local;
      return this.mapPath(v);
    };
    const [command, ...args] = [...(container.command ?? []), ...(container.args ?? [])].map(mapped);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: this.dir };
    for (const e of container.env ?? []) env[e.name] = e.value ?? '';
    const child = spawn(command === 'node' ? process.execPath : command, args, {
      env,
      cwd: posix.join(this.dir),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const startedAt = new Date();
    const run: Running = { child, startedAt, terminationLog, output: '', oom: false };
    this.running.set(key, run);
    const log: ContainerLog = { text: '', done: false, followers: new Set() };
    this.logs.set(key, log);
    const collect = (chunk: Buffer) => {
      run.output = (run.output + chunk.toString()).slice(-8192);
      log.text = (log.text + chunk.toString()).slice(-LOG_LIMIT);
      for (const follower of log.followers) follower.write(chunk);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const limit = bytes(container.resources?.limits?.memory);
    const memoryWatch = setInterval(() => {
      if (limit !== undefined && child.pid !== undefined && rssBytes(child.pid) > limit) {
        run.oom = true;
        child.kill('SIGKILL');
      }
    }, 50);
    const exited = new Promise<number>((resolve) =>
      child.once('close', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : 143))),
    );
    await this.patchStatus(pod, {
      ...base,
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ ...containerBase, ready: true, started: true, state: { running: { startedAt } } }],
    });
    const exitCode = await exited;
    clearInterval(memoryWatch);
    log.done = true;
    for (const follower of log.followers) follower.end();
    this.running.delete(key);
    if (this.stopped) return;
    let message = readFileSync(terminationLog, 'utf8').slice(0, 4096);
    if (!message && exitCode !== 0 && container.terminationMessagePolicy === 'FallbackToLogsOnError') {
      message = run.output.split('\n').slice(-80).join('\n').slice(-2048);
    }
    const reason = run.oom ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error';
    const terminated = { exitCode, reason, message, startedAt, finishedAt: new Date() };
    const current = await this.core
      .readNamespacedPod({ name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '' })
      .catch(() => undefined);
    if (!current || current.metadata?.deletionTimestamp) return;
    await this.patchStatus(pod, {
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      conditions: [{ type: 'Ready', status: 'False', reason: 'PodCompleted' }],
      containerStatuses: [{ ...containerBase, started: false, state: { terminated } }],
    });
  }
}
