import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { createObjects, serviceAccountKubeConfig } from './cluster.js';
import { trainerImage, type LocalImage } from './images.js';
import { renderKustomization, repoRoot } from './kustomize.js';
import { startRealNode, type RealNode } from './node.js';
import { PodHistory } from './pod-history.js';
import {
  KubernetesExecution,
  type KubernetesExecutionInput,
  type KubernetesSettingsInput,
} from '../../schemas/kubernetes.js';
import { CandidateSpec } from '../../schemas/candidate.js';
import { getPreset } from '../../scaling/presets.js';
import { TRAINER_IMAGE_COMMAND } from '../../schemas/trainer-process.js';
import { WorkflowFailedError } from '@temporalio/client';
import type { SearchResult } from '../../search/state.js';

/**
 * A real node (node.ts) with nvidia.com/gpu capacity 2, the trainer image (infra/Dockerfile.trainer, cpu target)
 * imported, k8s/base applied (without the worker Deployment: these tests run the worker on the host), the claims
 * bound to hostPath volumes, and the executor's ServiceAccount kubeconfig.
 */
export interface K8sFixture {
  node: RealNode;
  trainer: LocalImage;
  /** Every trainer pod the API server showed, by search and candidate. */
  pods: PodHistory;
  worker: { kubeConfig: KubeConfig; path: string };
  admin: CoreV1Api;
  artifacts: string;
  execution(overrides?: Partial<KubernetesExecutionInput>): KubernetesExecution;
  stop(): Promise<void>;
}

export const NAMESPACE = 'effscale';
export const GPUS = 2;
/** The host's Debian datasets, mounted at the same path in pods so that a candidate spec means the same on both sides. */
export const DATASETS = '/usr/share/datasets';
/** What a pod does (sleep, progress, exit, allocate) is the subject of these tests, not training: trainer.ts. */
export const FIXTURE_TRAINER = ['node', '/app/dist/test/k8s/fixtures/trainer.js'];

/**
 * Logs what a test runs against: the images and, one line each, the versions of the node's components. The test
 * runner prints a test file's output as TAP comments (`# kubelet: v1.34.4`).
 */
export function logImage(what: string, image: LocalImage): void {
  const how = image.buildSeconds === undefined ? 'cached' : `built in ${image.buildSeconds.toFixed(0)} s`;
  console.log(`${what}: ${image.name}, ${how}, archive ${(statSync(image.archive).size / 1e6).toFixed(0)} MB`);
}

export function logNode(node: RealNode): void {
  console.log(`kube-apiserver: ${node.versions.apiserver}`);
  console.log(`kubelet: ${node.versions.kubelet}`);
  console.log(`containerd: ${node.versions.containerd}`);
  console.log(`node Ready in ${(node.startupMs / 1000).toFixed(1)} s (image imports included)`);
}

/**
 * k8s/base's two claims bound to hostPath volumes: the artifacts store and the host's datasets (read-only). A real
 * claim's driver applies the pod's fsGroup; a hostPath does not, so the artifacts directory is world-writable.
 */
export async function bindClaims(node: RealNode, artifacts: string): Promise<void> {
  chmodSync(artifacts, 0o777);
  const core = node.admin.makeApiClient(CoreV1Api);
  for (const [claim, path, storage] of [
    ['effscale-artifacts', artifacts, '50Gi'],
    ['effscale-datasets', DATASETS, '20Gi'],
  ] as const) {
    await core.createPersistentVolume({
      body: {
        metadata: { name: claim },
        spec: {
          capacity: { storage },
          accessModes: ['ReadWriteMany'],
          storageClassName: '',
          persistentVolumeReclaimPolicy: 'Retain',
          hostPath: { path, type: 'Directory' },
          claimRef: { namespace: NAMESPACE, name: claim },
        },
      },
    });
  }
}

/** k8s/base without its worker Deployment, as the cluster admin creates it. */
export async function applyBase(node: RealNode): Promise<void> {
  const objects = renderKustomization(join(repoRoot(), 'k8s', 'base')).filter((o) => o.kind !== 'Deployment');
  await createObjects(node.admin, objects);
}

export async function startFixture(): Promise<K8sFixture> {
  const trainer = trainerImage('cpu');
  logImage('trainer (cpu)', trainer);
  // Directories the host-side worker creates are written by trainer pods as uid 1000: on a real claim its fsGroup
  // makes them group-writable, on these hostPath volumes only a umask of 0 does.
  process.umask(0);
  // And so does a worker process started from here (bin/effscale.js sets 077 otherwise).
  process.env.EFFSCALE_UMASK = '0';
  const node = await startRealNode({ gpus: GPUS, images: [trainer] });
  logNode(node);
  const artifacts = mkdtempSync(join(tmpdir(), 'effscale-artifacts-'));
  try {
    await applyBase(node);
    await bindClaims(node, artifacts);
    const worker = await serviceAccountKubeConfig(node, NAMESPACE, 'effscale-worker');
    const pods = await PodHistory.start(node.admin, NAMESPACE);
    return {
      node,
      trainer,
      pods,
      worker,
      admin: node.admin.makeApiClient(CoreV1Api),
      artifacts,
      execution: (overrides = {}) =>
        KubernetesExecution.parse({
          kubeconfig: worker.path,
          namespace: NAMESPACE,
          image: trainer.name,
          imagePullPolicy: 'Never',
          command: FIXTURE_TRAINER,
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '1Gi', 'nvidia.com/gpu': '1' } },
          volumes: { artifacts: { claimName: 'effscale-artifacts', mountPath: '/artifacts', localPath: artifacts } },
          heartbeatSeconds: 0.5,
          ...overrides,
        }),
      async stop() {
        pods.stop();
        await stopNode(node);
        rmSync(artifacts, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await stopNode(node);
    throw e;
  }
}

/** Stops the node and fails if the host is not left as it was found. */
export async function stopNode(node: RealNode): Promise<void> {
  const { leftovers, teardownMs } = await node.stop();
  console.log(`teardown in ${(teardownMs / 1000).toFixed(1)} s`);
  if (leftovers.length) throw new Error(`the node's teardown left the host changed:\n  ${leftovers.join('\n  ')}`);
}

/**
 * The worker's `execution.kubernetes` defaults for pipeline tests, as k8s/base's ConfigMap holds them: the real
 * `effscale train` of the trainer image as the container command, the artifacts and datasets claims, the
 * ServiceAccount kubeconfig, one GPU per pod.
 */
export function pipelineDefaults(f: K8sFixture): KubernetesSettingsInput {
  return {
    kubeconfig: f.worker.path,
    namespace: NAMESPACE,
    image: f.trainer.name,
    imagePullPolicy: 'Never',
    command: TRAINER_IMAGE_COMMAND,
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '2Gi', 'nvidia.com/gpu': '1' } },
    volumes: {
      artifacts: { claimName: 'effscale-artifacts', mountPath: '/artifacts', localPath: f.artifacts },
      dataset: { claimName: 'effscale-datasets', mountPath: DATASETS, readOnly: true },
    },
    heartbeatSeconds: 0.5,
  };
}

export function candidateSpec(id: string): CandidateSpec {
  return CandidateSpec.parse({
    id,
    architecture: getPreset('micro-28'),
    task: { dataset: { format: 'fashion-mnist' }, trainLimit: 256, valLimit: 64 },
    training: { epochs: 1, batchSize: 32 },
  });
}

/** The search's result; a failed search throws with its cause's message, which says what went wrong. */
export async function resultOf(handle: { result(): Promise<SearchResult> }): Promise<SearchResult> {
  try {
    return await handle.result();
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
    throw new Error(`search failed: ${cause?.message ?? String(err)}`, { cause: err });
  }
}
