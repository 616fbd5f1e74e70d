import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { labelValue } from '../../executors/kubernetes/names.js';
import type { SearchSpecInput } from '../../schemas/search.js';
import { k8sBinary } from './cluster.js';
import { GPUS, NAMESPACE, bindClaims, logImage, logNode, stopNode } from './harness.js';
import { trainerImage, workerImage, type LocalImage } from './images.js';
import { repoRoot } from './kustomize.js';
import { startRealNode, type RealNode } from './node.js';
import { PodHistory } from './pod-history.js';
import { chunkWorkflowId } from '../../search/ids.js';
import { TRAINER_IMAGE_COMMAND } from '../../schemas/trainer-process.js';

/**
 * The worker deployed the way a user deploys it: `kubectl apply -k` of an overlay of the repository's k8s/base for
 * this test cluster, then a search started from the CLI on the host against Temporal, run by the worker pod, whose
 * executor creates a trainer pod per candidate with its ServiceAccount's in-cluster credentials.
 */

const EFFSCALE = join(repoRoot(), 'bin', 'effscale.js');
const run = promisify(execFile);

interface OverlayValues {
  trainer: LocalImage;
  worker: LocalImage;
  temporal: string;
  node: RealNode;
}

/**
 * The overlay a user of this cluster would write: the local images (never pulled), Temporal on the host, small
 * resource requests for a 2-core node, and the datasets at the path the search spec names. One test-cluster fact
 * goes in too: no kube-proxy runs here, so the worker reaches the API server at the node's address rather than
 * through the `kubernetes` Service.
 */
function writeOverlay(dir: string, { trainer, worker, temporal, node }: OverlayValues): void {
  const [imageName, imageTag] = worker.name.split(/:(?=[^:]+$)/);
  const api = new URL(node.server);
  const files: Record<string, unknown> = {
    'kustomization.yaml': {
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      // kustomize takes another kustomization only by a relative path.
      resources: [relative(dir, join(repoRoot(), 'k8s', 'base'))],
      images: [{ name: 'ghcr.io/effscale/worker', newName: imageName, newTag: imageTag }],
      patches: [{ path: 'worker.yaml' }, { path: 'trainer-execution.yaml' }],
    },
    'worker.yaml': {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'effscale-worker', namespace: NAMESPACE },
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: 'worker',
                imagePullPolicy: 'Never',
                env: [
                  { name: 'TEMPORAL_ADDRESS', value: temporal },
                  { name: 'KUBERNETES_SERVICE_HOST', value: api.hostname },
                  { name: 'KUBERNETES_SERVICE_PORT', value: api.port },
                ],
                resources: { requests: { cpu: '100m', memory: '256Mi' } },
              },
            ],
          },
        },
      },
    },
    'trainer-execution.yaml': {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'effscale-trainer-execution', namespace: NAMESPACE },
      data: {
        'kubernetes.yaml': toYaml({
          namespace: NAMESPACE,
          image: trainer.name,
          imagePullPolicy: 'Never',
          serviceAccountName: 'effscale-trainer',
          command: TRAINER_IMAGE_COMMAND,
          resources: {
            requests: { cpu: '100m', memory: '256Mi' },
            limits: { memory: '2Gi', 'nvidia.com/gpu': '1' },
          },
          volumes: {
            artifacts: { claimName: 'effscale-artifacts', mountPath: '/artifacts' },
            dataset: { claimName: 'effscale-datasets', mountPath: '/datasets', readOnly: true },
          },
          runAsUser: 1000,
          fsGroup: 1000,
          cleanup: { deleteSucceeded: true, keepFailedMinutes: 120 },
        }),
      },
    },
  };
  for (const [file, object] of Object.entries(files)) writeFileSync(join(dir, file), toYaml(object));
}

interface Dev {
  port: number;
  stop(): Promise<void>;
}

/** `effscale dev --listen-all --no-worker`, up once it prints where Temporal listens. */
async function startDev(stateDir: string): Promise<Dev> {
  const child = spawn(process.execPath, [EFFSCALE, 'dev', '--listen-all', '--no-worker', '--state-dir', stateDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const m = /Temporal at 127\.0\.0\.1:(\d+) \(listening on every interface\)/.exec(output);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`effscale dev exited (${code}): ${output}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    port,
    async stop() {
      child.kill('SIGINT');
      await exited;
    },
  };
}

/** A small real search for the worker pod: the grid points at φ = 1 (4 distinct networks), one finalist. */
const SPEC: SearchSpecInput = {
  name: 'in-cluster',
  baseline: 'micro-28',
  task: { dataset: { format: 'fashion-mnist', path: '/datasets/fashion-mnist' }, trainLimit: 256, valLimit: 128 },
  training: { epochs: 1, batchSize: 64 },
  scaling: {
    grid: {
      alpha: { min: 1, max: 1.2, step: 0.1 },
      beta: { min: 1, max: 1.2, step: 0.1 },
      gamma: { min: 1, max: 1.3, step: 0.1 },
      tolerance: 0.1,
    },
    targets: { phis: [1] },
  },
  execution: { executor: 'kubernetes', parallelism: GPUS, retries: 1 },
  final: { finalists: 1 },
};

describe('the worker in-cluster from k8s/: kubectl apply -k, a search from the CLI', { timeout: 40 * 60_000 }, () => {
  let node: RealNode;
  let temporal: Dev;
  let pods: PodHistory;
  let work: string;
  let artifacts: string;

  before(async () => {
    const trainer = trainerImage('cpu');
    const worker = workerImage();
    logImage('trainer (cpu)', trainer);
    logImage('worker', worker);
    node = await startRealNode({ gpus: GPUS, images: [trainer, worker] });
    logNode(node);
    work = mkdtempSync(join(tmpdir(), 'effscale-in-cluster-'));
    artifacts = mkdtempSync(join(tmpdir(), 'effscale-artifacts-'));
    // Temporal on the host as a user without a Temporal cluster serves it: `effscale dev`, on every interface so
    // that the worker pod reaches it at the node's address, and with no worker of its own.
    temporal = await startDev(join(work, 'temporal'));
    const overlay = join(work, 'overlay');
    mkdirSync(overlay);
    writeOverlay(overlay, { trainer, worker, temporal: `${node.nodeIP}:${temporal.port}`, node });
    const kubectl = ['--kubeconfig', node.adminKubeconfig];
    console.log(execFileSync(k8sBinary('kubectl'), [...kubectl, 'apply', '-k', overlay], { encoding: 'utf8' }).trim());
    await bindClaims(node, artifacts);
    pods = await PodHistory.start(node.admin, NAMESPACE);
    execFileSync(
      k8sBinary('kubectl'),
      [...kubectl, '-n', NAMESPACE, 'rollout', 'status', 'deployment/effscale-worker', '--timeout=180s'],
      { stdio: 'pipe' },
    );
  });

  after(async () => {
    pods?.stop();
    // The Deployment first: its ReplicaSet would otherwise replace the worker pod as the node's teardown deletes it.
    await node?.admin
      .makeApiClient(AppsV1Api)
      .deleteNamespacedDeployment({ name: 'effscale-worker', namespace: NAMESPACE })
      .catch(() => undefined);
    await temporal?.stop();
    if (node) await stopNode(node);
    for (const dir of [work, artifacts]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a search started from the CLI completes, run by the worker pod with a trainer pod per candidate', async () => {
    const core = node.admin.makeApiClient(CoreV1Api);
    const workerPods = await core.listNamespacedPod({
      namespace: NAMESPACE,
      labelSelector: 'app.kubernetes.io/component=worker',
    });
    assert.equal(workerPods.items.length, 1);
    const workerPod: V1Pod = workerPods.items[0];
    assert.equal(workerPod.status?.phase, 'Running');
    const specFile = join(work, 'search.yaml');
    writeFileSync(specFile, toYaml(SPEC));
    // The dataset path is the pods' (/datasets): nothing trains on this machine, so it need not exist here.
    const began = Date.now();
    const { stdout, stderr } = await run(
      process.execPath,
      [
        EFFSCALE,
        'search',
        specFile,
        '--address',
        `127.0.0.1:${temporal.port}`,
        '--state-dir',
        join(work, 'client'),
        '--json',
      ],
      { maxBuffer: 16 << 20 },
    );
    const result = JSON.parse(stdout) as {
      status: string;
      best?: { score: number };
      points: { trainings: number };
      models: unknown[];
      temporal: { workflowId: string };
    };
    assert.equal(result.status, 'completed', stderr);
    assert.equal(result.models.length, 1, 'the finalist is registered');
    assert.ok(Number.isFinite(result.best?.score));
    const { workflowId } = result.temporal;

    // Every activity of the search was started by the worker in the pod (its identity is pid@hostname).
    const connection = await Connection.connect({ address: `127.0.0.1:${temporal.port}` });
    const client = new Client({ connection });
    const identities = new Set<string>();
    for (const id of [workflowId, chunkWorkflowId(workflowId, 0)]) {
      const history = await client.workflow.getHandle(id).fetchHistory();
      for (const event of history.events ?? []) {
        const identity = event.activityTaskStartedEventAttributes?.identity;
        if (identity) identities.add(identity.replace(/^\d+@/, ''));
      }
    }
    await connection.close();
    assert.deepEqual([...identities], [workerPod.metadata?.name], 'activities ran in the worker pod');

    const trained = pods.podsOfSearch(labelValue(workflowId));
    assert.ok(result.points.trainings >= 3, `a grid worth the name (${result.points.trainings} trainings)`);
    assert.equal(trained.size, result.points.trainings + 1, 'a trainer pod for every grid training and the finalist');
    for (const [candidate, names] of trained) assert.equal(names.length, 1, `one pod for ${candidate}: ${names}`);
    console.log(
      `search from the CLI in ${((Date.now() - began) / 1000).toFixed(0)} s: ${trained.size} trainer pods, ` +
        `best score ${result.best?.score.toFixed(3)}`,
    );
    const log = await core.readNamespacedPodLog({
      name: workerPod.metadata?.name ?? '',
      namespace: NAMESPACE,
      container: 'worker',
    });
    assert.match(log, /worker polling/);
  });
});
