import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { ApiException, CoreV1Api, KubeConfig, Log, type V1Pod } from '@kubernetes/client-node';
import { KubernetesExecution } from '../../schemas/kubernetes.js';
import { TrainProgress, TrainResult, type CandidateSpec } from '../../schemas/candidate.js';
import { TRAINER_FILES } from '../../schemas/trainer-process.js';
import {
  CandidateInputError,
  TrainingDisrupted,
  TrainingFailure,
  type Executor,
  type TrainingHooks,
  type TrainingJob,
} from '../executor.js';
import { MANAGED_SELECTOR, candidateSelector, podBaseName, podName } from './names.js';
import { CONTAINER, buildPod, candidateOnPod, localRoot, toLocalPath, toPodPath } from './pod.js';
import { PodQuota, QuotaTurns } from './quota.js';
import { DISRUPTIONS, RETRYABLE, isActive, lostNode, podState, type FailureType, type PodFailure } from './status.js';
import { trainerImageTooOld } from './image-release.js';
import { PodWatch } from './watch.js';
import { withTransientRetries } from './api-retry.js';
import { resultPath } from '../../trainer/result.js';
import { writeFileAtomic } from '../../trainer/durable.js';

export function loadKubeConfig(execution: KubernetesExecution): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (execution.kubeconfig) kubeConfig.loadFromFile(execution.kubeconfig);
  else kubeConfig.loadFromDefault();
  if (execution.context) kubeConfig.setCurrentContext(execution.context);
  return kubeConfig;
}

export function podFailure(type: FailureType, message: string, details: Record<string, unknown> = {}): Error {
  if (type === 'BadCandidateInput') return new CandidateInputError(message);
  if (DISRUPTIONS.has(type)) return new TrainingDisrupted(type, message, details);
  return new TrainingFailure(type, message, RETRYABLE[type], details);
}

function apiFailure(e: unknown, what: string): Error {
  if (e instanceof ApiException) {
    const body = typeof e.body === 'string' ? safeJson(e.body) : e.body;
    const message = (body as { message?: string } | undefined)?.message ?? String(e.body);
    if (e.code === 403) return podFailure('Forbidden', `${what}: forbidden: ${message}`);
    if (e.code === 400 || e.code === 422) return podFailure('InvalidPodTemplate', `${what}: ${message}`);
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** The default termination grace period of a pod, and some slack for the node to report. */
const DELETION_WAIT_MS = 40_000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * Trains each candidate as one bare Pod (restartPolicy Never: Temporal owns retries, so a Job's backoff would
 * only hide attempts from the workflow). The pod is named from the search and candidate, so a retried activity or
 * a new worker adopts it; the result comes back as the container's termination message.
 */
export class KubernetesExecutor implements Executor {
  readonly kind = 'kubernetes' as const;
  readonly execution: KubernetesExecution;
  readonly heartbeatSeconds: number;
  private readonly kubeConfig: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly quota: PodQuota;

  /** `turns`: the worker pool's, shared with its other executors; a lone executor (a tool, a test) has its own. */
  constructor(execution: KubernetesExecution, options: { kubeConfig?: KubeConfig; turns?: QuotaTurns } = {}) {
    this.execution = execution;
    this.heartbeatSeconds = execution.heartbeatSeconds;
    this.kubeConfig = options.kubeConfig ?? loadKubeConfig(execution);
    // Every call goes through an API server restart (the watch re-lists by itself: watch.ts).
    this.core = withTransientRetries(this.kubeConfig.makeApiClient(CoreV1Api));
    const cluster = this.kubeConfig.getCurrentCluster()?.server ?? '';
    this.quota = new PodQuota(
      this.core,
      execution.namespace,
      execution.gpuQuota,
      options.turns ?? new QuotaTurns(),
      cluster,
    );
  }

  /**
   * Server-side dry run of a pod built from the template: the API server's own validation and admission (Pod
   * Security, RBAC) reject a bad template before any candidate starts. Throws InvalidPodTemplate or Forbidden, or
   * TrainerTooOld for a trainer image of an earlier release than this worker.
   */
  async preflight(searchId = 'preflight', searchDir?: string): Promise<void> {
    const tooOld = trainerImageTooOld(this.execution.image);
    if (tooOld) throw podFailure('TrainerTooOld', tooOld);
    const root = localRoot(this.execution.volumes.artifacts);
    if (searchDir !== undefined && !toPodPath(this.execution.volumes.artifacts, searchDir)) {
      throw podFailure(
        'InvalidPodTemplate',
        `search directory ${searchDir} is not on the artifacts volume (execution.kubernetes.volumes.artifacts: ` +
          `${root} on the worker): trainer pods could not read their specs or write results`,
      );
    }
    const job = {
      searchId,
      candidateId: 'check',
      spec: {} as CandidateSpec,
      outDir: join(root, 'preflight'),
      labels: {},
    };
    const pod = buildPod(podBaseName(searchId, 'check'), job, this.execution, { spec: '/dev/null', out: '/tmp' });
    try {
      await this.core.createNamespacedPod({ namespace: this.execution.namespace, body: pod, dryRun: 'All' });
    } catch (e) {
      throw apiFailure(e, `invalid pod template for namespace ${this.execution.namespace}`);
    }
  }

  async train(job: TrainingJob, hooks: TrainingHooks): Promise<TrainResult> {
    const { namespace } = this.execution;
    const existing = await this.core
      .listNamespacedPod({ namespace, labelSelector: candidateSelector(job.searchId, job.candidateId) })
      .then((list) =>
        list.items.filter((p) => p.metadata?.annotations?.['effscale.dev/candidate-id'] === job.candidateId),
      )
      .catch((e: unknown) => {
        throw apiFailure(e, `listing pods in ${namespace}`);
      });
    const adoptable = existing.find((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Failed');
    let name: string;
    if (adoptable?.metadata?.name) {
      name = adoptable.metadata.name;
    } else {
      name = podName(podBaseName(job.searchId, job.candidateId), existing.length);
      await this.launch(name, job, hooks);
    }
    hooks.onLaunch?.({ pod: name });
    return this.follow(name, job, hooks);
  }

  async release(searchId: string, candidateId: string): Promise<void> {
    if (!this.execution.cleanup.deleteSucceeded) return;
    const list = await this.core.listNamespacedPod({
      namespace: this.execution.namespace,
      labelSelector: candidateSelector(searchId, candidateId),
      fieldSelector: 'status.phase=Succeeded',
    });
    for (const pod of list.items) if (pod.metadata?.name) await this.deletePod(pod.metadata.name, 0);
  }

  private async launch(name: string, job: TrainingJob, hooks: TrainingHooks): Promise<void> {
    const { artifacts } = this.execution.volumes;
    const out = toPodPath(artifacts, job.outDir);
    if (!out) {
      throw podFailure(
        'InvalidPodTemplate',
        `candidate directory ${job.outDir} is not on the artifacts volume (${localRoot(artifacts)}): the pod could not see it`,
      );
    }
    const spec = candidateOnPod(job.spec, this.execution.volumes);
    await writeFileAtomic(join(job.outDir, TRAINER_FILES.spec), JSON.stringify(spec, null, 2));

    const body = buildPod(name, job, this.execution, { spec: `${out}/${TRAINER_FILES.spec}`, out });
    const namespace = this.execution.namespace;
    try {
      await this.core.createNamespacedPod({ namespace, body, dryRun: 'All' });
    } catch (e) {
      throw apiFailure(e, `pod ${name} rejected by the API server`);
    }
    const wait = async () => {
      if (hooks.signal.aborted) throw new Error(`training of ${job.candidateId} cancelled while waiting for GPU quota`);
      await sleep(500 + Math.random() * 500, hooks.signal);
    };
    for (;;) {
      await this.quota.withSlot(async () => {
        await this.core.createNamespacedPod({ namespace, body }).catch((e: unknown) => {
          // Another worker (or an earlier attempt of this one) got there first: adopt its pod.
          if (e instanceof ApiException && e.code === 409) return;
          throw apiFailure(e, `creating pod ${name}`);
        });
      }, wait);
      if (await this.quota.holdsSlot(name)) return;
      await this.deletePod(name, 0);
      await wait();
    }
  }

  private async follow(name: string, job: TrainingJob, hooks: TrainingHooks): Promise<TrainResult> {
    const { namespace } = this.execution;
    let latest: V1Pod | undefined;
    let seen = false;
    let wake: () => void = () => undefined;
    const watch = new PodWatch(
      this.kubeConfig,
      this.core,
      namespace,
      name,
      this.execution.watchTimeoutSeconds,
      (pod) => {
        latest = pod;
        seen ||= pod !== undefined;
        wake();
      },
    );
    // The trainer's last word (a progress line): a pod marked not ready whose trainer is silent is lost.
    let heardAt = Date.now();
    const heard: TrainingHooks = {
      ...hooks,
      onProgress: (p) => {
        heardAt = Date.now();
        hooks.onProgress(p);
      },
    };
    hooks.onProgress({
      type: 'start',
      candidateId: job.candidateId,
      epochs: job.spec.training.epochs,
      resumedFromEpoch: 0,
    });
    let logs: AbortController | undefined;
    const abort = () => wake();
    hooks.signal.addEventListener('abort', abort);
    try {
      await watch.start();
      for (;;) {
        if (hooks.signal.aborted) {
          await this.deletePod(name, undefined);
          // As with a local process, the cancelled activity ends only once the pod is gone (or long overdue).
          const deadline = Date.now() + DELETION_WAIT_MS;
          while (latest && Date.now() < deadline)
            await Promise.race([new Promise<void>((r) => (wake = r)), sleep(500)]);
          throw new Error(`training of ${job.candidateId} cancelled: pod ${name} deleted`);
        }
        if (!latest) {
          throw podFailure('PodDeleted', `pod ${name} was deleted before it finished`, { pod: name, seen });
        }
        const state = podState(latest, this.execution);
        if (state.kind === 'running' && !logs) logs = this.followLogs(name, heard);
        const lost = state.kind === 'running' ? lostNode(latest, this.execution, heardAt) : undefined;
        if (lost) {
          await this.deletePod(name, this.execution.nodeLoss.forceDelete ? 0 : undefined);
          throw this.failure(name, job, { type: 'NodeLost', message: lost });
        }
        if (state.kind === 'succeeded') return await this.result(name, job, state.message);
        if (state.kind === 'failed') {
          if (isActive(latest)) await this.deletePod(name, 0);
          throw this.failure(name, job, state.failure);
        }
        const changed = new Promise<void>((resolve) => (wake = resolve));
        await Promise.race([changed, sleep(1000)]);
      }
    } finally {
      hooks.signal.removeEventListener('abort', abort);
      watch.stop();
      logs?.abort();
    }
  }

  /** Progress lines from the container log, best effort: the pod's status alone decides the outcome. */
  private followLogs(name: string, hooks: TrainingHooks): AbortController {
    const controller = new AbortController();
    const stream = new PassThrough();
    void new Log(this.kubeConfig)
      .log(this.execution.namespace, name, CONTAINER, stream, { follow: true })
      .then((c) => controller.signal.addEventListener('abort', () => c.abort(), { once: true }))
      .catch(() => stream.end());
    // A 'line' listener, not `for await`: on Node 24 an async iterator over readline was seen to miss its stream's
    // end (a CI hang, fixed the same way in executors/local.ts), and a best-effort follower must never hang or throw.
    createInterface({ input: stream }).on('line', (line) => {
      const parsed = TrainProgress.safeParse(safeJson(line));
      if (!parsed.success) return;
      try {
        hooks.onProgress(parsed.data);
      } catch {
        // Progress is advisory here; the pod's status reports the outcome.
      }
    });
    return controller;
  }

  private async result(name: string, job: TrainingJob, message: string | undefined): Promise<TrainResult> {
    let parsed = TrainResult.safeParse(safeJson(message ?? ''));
    if (!parsed.success) {
      // A message over the node's 4 KiB limit is truncated; the full result is on the shared volume.
      const file = await readFile(resultPath(job.outDir), 'utf8').catch(() => '');
      const fromFile = TrainResult.safeParse(safeJson(file));
      if (!fromFile.success) {
        throw podFailure('BadResult', `pod ${name} succeeded without a valid result: ${parsed.error.message}`, {
          pod: name,
        });
      }
      parsed = fromFile;
    }
    if (this.execution.cleanup.deleteSucceeded) await this.deletePod(name, 0);
    const modelUri = toLocalPath(this.execution.volumes.artifacts, parsed.data.modelUri);
    return { ...parsed.data, modelUri };
  }

  private failure(name: string, job: TrainingJob, failure: PodFailure): Error {
    return podFailure(
      failure.type,
      `candidate ${job.candidateId}, pod ${this.execution.namespace}/${name}: ${failure.message}`,
      {
        pod: name,
        exitCode: failure.exitCode,
      },
    );
  }

  private async deletePod(name: string, gracePeriodSeconds: number | undefined): Promise<void> {
    await this.core
      .deleteNamespacedPod({ name, namespace: this.execution.namespace, gracePeriodSeconds })
      .catch((e: unknown) => {
        if (!(e instanceof ApiException && e.code === 404)) throw e;
      });
  }

  /** The cleanup policy for failed pods: kept `keepFailedMinutes` for debugging, then deleted (the pool's sweep). */
  async sweep(): Promise<void> {
    const cutoff = Date.now() - this.execution.cleanup.keepFailedMinutes * 60_000;
    const list = await this.core.listNamespacedPod({
      namespace: this.execution.namespace,
      labelSelector: MANAGED_SELECTOR,
      fieldSelector: 'status.phase=Failed',
    });
    for (const pod of list.items) {
      const finished =
        pod.status?.containerStatuses?.[0]?.state?.terminated?.finishedAt ?? pod.metadata?.creationTimestamp;
      if (pod.metadata?.name && new Date(finished ?? 0).getTime() < cutoff) await this.deletePod(pod.metadata.name, 0);
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
