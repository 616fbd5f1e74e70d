import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { startCluster, type TestCluster } from './cluster.js';
import { renderKustomization, repoRoot } from './kustomize.js';
import { NodeAgent } from './node-agent.js';
import {
  KubernetesExecution,
  type KubernetesExecutionInput,
  type KubernetesSettingsInput,
} from '../../spec/kubernetes.js';
import { CandidateSpec } from '../../spec/candidate.js';
import { getPreset } from '../../scaling/presets.js';

/** One cluster + the k8s/ base applied + a GPU node agent + the executor's ServiceAccount kubeconfig. */
export interface K8sFixture {
  cluster: TestCluster;
  agent: NodeAgent;
  worker: { kubeConfig: KubeConfig; path: string };
  admin: CoreV1Api;
  artifacts: string;
  execution(overrides?: Partial<KubernetesExecutionInput>): KubernetesExecution;
  stop(): Promise<void>;
}

export const TEST_IMAGE = 'ghcr.io/effscale/trainer:test';
/**
 * The datasets claim is mounted where the worker sees the Debian datasets: the node agent maps paths in the
 * command line, not inside the candidate spec a pod reads, so the dataset path must mean the same on both sides.
 */
const DATASETS = '/usr/share/datasets';

/**
 * The worker's `execution.kubernetes` defaults for pipeline tests, as the ConfigMap in k8s/ holds them: the real
 * `effscale train` as the container command, the artifacts and datasets claims, the ServiceAccount kubeconfig.
 */
export function pipelineDefaults(f: K8sFixture): KubernetesSettingsInput {
  return {
    kubeconfig: f.worker.path,
    namespace: 'effscale',
    image: TEST_IMAGE,
    command: ['node', '/app/bin/effscale.js', 'train'],
    resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '2Gi', 'nvidia.com/gpu': '1' } },
    volumes: {
      artifacts: { claimName: 'effscale-artifacts', mountPath: '/artifacts', localPath: f.artifacts },
      dataset: { claimName: 'effscale-datasets', mountPath: DATASETS, readOnly: true },
    },
    heartbeatSeconds: 0.5,
  };
}

export async function startFixture(): Promise<K8sFixture> {
  const cluster = await startCluster();
  console.log(`# kube-apiserver: ${cluster.version} (${cluster.server})`);
  const objects = renderKustomization(join(repoRoot(), 'k8s', 'base')).filter((o) => o.kind !== 'Deployment');
  await cluster.apply(objects).catch((e: unknown) => {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  });
  const artifacts = mkdtempSync(join(tmpdir(), 'effscale-artifacts-'));
  const agent = new NodeAgent({
    kubeConfig: cluster.admin,
    gpus: 8,
    labels: { 'nvidia.com/gpu.present': 'true' },
    images: [TEST_IMAGE],
    paths: { '/app': repoRoot(), '/artifacts': artifacts },
  });
  await agent.start();
  const worker = await cluster.serviceAccountKubeConfig('effscale', 'effscale-worker');
  return {
    cluster,
    agent,
    worker,
    admin: cluster.admin.makeApiClient(CoreV1Api),
    artifacts,
    execution: (overrides = {}) =>
      KubernetesExecution.parse({
        kubeconfig: worker.path,
        namespace: 'effscale',
        image: TEST_IMAGE,
        command: ['node', '/app/dist/test/k8s/fixtures/trainer.js'],
        resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '1Gi', 'nvidia.com/gpu': '1' } },
        volumes: { artifacts: { claimName: 'effscale-artifacts', mountPath: '/artifacts', localPath: artifacts } },
        heartbeatSeconds: 0.5,
        ...overrides,
      }),
    async stop() {
      await agent.stop();
      await cluster.stop();
      rmSync(artifacts, { recursive: true, force: true });
    },
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
