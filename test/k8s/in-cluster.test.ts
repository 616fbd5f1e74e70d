import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { labelValue } from '../../executors/kubernetes/names.js';
import type { SearchSpecInput } from '../../schemas/search.js';
import { packageVersion } from '../../schemas/release.js';
import type { SearchResult } from '../../search/state.js';
import { loadSearchSpec, startOrAttach, type Attached } from '../../client/search.js';
import { deploymentVersions, searchVersion, type DeploymentVersion } from '../../client/versions.js';
import { chunkProgressQuery, pauseSignal, resumeSignal } from '../../workflows/messages.js';
import { k8sBinary } from './cluster.js';
import { GPUS, NAMESPACE, bindClaims, logImage, logNode, stopNode } from './harness.js';
import { trainerImage, workerImage, type LocalImage } from './images.js';
import { repoRoot } from './kustomize.js';
import { startRealNode, type RealNode } from './node.js';
import { PodHistory } from './pod-history.js';
import { RELEASE_LABEL, k8sOfRelease, trainerExecution, workerDeployment } from './releases.js';
import { chunkWorkflowId } from '../../search/ids.js';
import { TRAINER_IMAGE_COMMAND } from '../../schemas/trainer-process.js';

/**
 * The worker deployed the way a user deploys it: `kubectl apply -k` of an overlay of the repository's k8s/base for
 * this test cluster, then a search started from the CLI on the host against Temporal, run by the worker pod, whose
 * executor creates a trainer pod per candidate with its ServiceAccount's in-cluster credentials. Then the next
 * release rolled out beside it the same way, while a search runs on the first (docs/kubernetes.md, Releases side by
 * side).
 */

const EFFSCALE = join(repoRoot(), 'bin', 'effscale.js');
const run = promisify(execFile);

/** This release (k8s/ as committed) and the next one, a release bump of k8s/ run from the same worker image. */
const A = packageVersion;
const B = `${packageVersion}-next`;

interface OverlayValues {
  /** The k8s/ directory of the release deployed (this repository's, or a release bump of it). */
  k8s: string;
  release: string;
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
function writeOverlay(dir: string, { k8s, release, trainer, worker, temporal, node }: OverlayValues): void {
  const [imageName, imageTag] = worker.name.split(/:(?=[^:]+$)/);
  const api = new URL(node.server);
  const files: Record<string, unknown> = {
    'kustomization.yaml': {
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      // kustomize takes another kustomization only by a relative path.
      resources: [relative(dir, join(k8s, 'base'))],
      images: [{ name: 'ghcr.io/effscale/worker', newName: imageName, newTag: imageTag }],
      patches: [{ path: 'worker.yaml' }, { path: 'trainer-execution.yaml' }],
    },
    'worker.yaml': {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: workerDeployment(release), namespace: NAMESPACE },
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
      metadata: { name: trainerExecution(release), namespace: NAMESPACE },
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

/** A search spec as a user writes it, loaded as the CLI loads it for a cluster (the dataset is the pods'). */
async function specFile(dir: string, input: SearchSpecInput) {
  const file = join(dir, `${input.name}.yaml`);
  writeFileSync(file, toYaml(input));
  return loadSearchSpec(file, { datasetOnThisMachine: false });
}

/** The workers that ran a workflow's activities and its children's (the history's `identity` is pid@<pod name>). */
async function activityIdentities(client: Client, workflowId: string): Promise<Set<string>> {
  const identities = new Set<string>();
  const children: string[] = [];
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  for (const event of history.events ?? []) {
    const identity = event.activityTaskStartedEventAttributes?.identity;
    if (identity) identities.add(identity.replace(/^\d+@/, ''));
    const child = event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
    if (child) children.push(child);
  }
  for (const child of new Set(children)) for (const i of await activityIdentities(client, child)) identities.add(i);
  return identities;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(1000);
  }
}

describe('the worker in-cluster from k8s/: kubectl apply -k, a search from the CLI', { timeout: 40 * 60_000 }, () => {
  let node: RealNode;
  let temporal: Dev;
  let pods: PodHistory;
  let work: string;
  let artifacts: string;
  let trainer: LocalImage;
  let worker: LocalImage;
  let kubectl: (...args: string[]) => string;

  /** `kubectl apply -k` of this cluster's overlay of a release's k8s/base; kubectl's output. */
  const deploy = (release: string): string => {
    const overlay = join(work, `overlay-${release}`);
    mkdirSync(overlay);
    const k8s = k8sOfRelease(work, release);
    writeOverlay(overlay, { k8s, release, trainer, worker, temporal: `${node.nodeIP}:${temporal.port}`, node });
    const applied = kubectl('apply', '-k', overlay);
    console.log(applied);
    return applied;
  };
  const rolledOut = (release: string) =>
    kubectl('-n', NAMESPACE, 'rollout', 'status', `deployment/${workerDeployment(release)}`, '--timeout=180s');
  const workerPodsOf = async (release: string): Promise<V1Pod[]> =>
    (
      await node.admin.makeApiClient(CoreV1Api).listNamespacedPod({
        namespace: NAMESPACE,
        labelSelector: `app.kubernetes.io/component=worker,${RELEASE_LABEL}=${release}`,
      })
    ).items;

  before(async () => {
    trainer = trainerImage('cpu');
    worker = workerImage();
    logImage('trainer (cpu)', trainer);
    logImage('worker', worker);
    node = await startRealNode({ gpus: GPUS, images: [trainer, worker] });
    logNode(node);
    kubectl = (...args) =>
      execFileSync(k8sBinary('kubectl'), ['--kubeconfig', node.adminKubeconfig, ...args], {
        encoding: 'utf8',
        stdio: 'pipe',
      }).trim();
    work = mkdtempSync(join(tmpdir(), 'effscale-in-cluster-'));
    artifacts = mkdtempSync(join(tmpdir(), 'effscale-artifacts-'));
    // Temporal on the host as a user without a Temporal cluster serves it: `effscale dev`, on every interface so
    // that the worker pod reaches it at the node's address, and with no worker of its own.
    temporal = await startDev(join(work, 'temporal'));
    deploy(A);
    await bindClaims(node, artifacts);
    pods = await PodHistory.start(node.admin, NAMESPACE);
    rolledOut(A);
  });

  after(async () => {
    pods?.stop();
    // The Deployments first: their ReplicaSets would otherwise replace the worker pods as the node's teardown
    // deletes them.
    for (const release of [A, B]) {
      await node?.admin
        .makeApiClient(AppsV1Api)
        .deleteNamespacedDeployment({ name: workerDeployment(release), namespace: NAMESPACE })
        .catch(() => undefined);
    }
    await temporal?.stop();
    if (node) await stopNode(node);
    for (const dir of [work, artifacts]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a search started from the CLI completes, run by the worker pod with a trainer pod per candidate', async () => {
    const core = node.admin.makeApiClient(CoreV1Api);
    const workerPods = await workerPodsOf(A);
    assert.equal(workerPods.length, 1);
    const workerPod: V1Pod = workerPods[0];
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
    const identities = await activityIdentities(client, workflowId);
    // The worker's build is the release its Deployment names (EFFSCALE_BUILD_ID), and the search is pinned to it.
    assert.deepEqual(searchVersion(await client.workflow.getHandle(workflowId).describe()), {
      buildId: A,
      behavior: 'pinned',
      override: null,
    });
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

  it(
    'the next release applied beside the first: new searches run on it, a running search finishes on the first, ' +
      'which `effscale versions` then reports removable and is deleted',
    async () => {
      const began = Date.now();
      const elapsed = () => `${((Date.now() - began) / 1000).toFixed(0)} s`;
      const address = `127.0.0.1:${temporal.port}`;
      const connection = await Connection.connect({ address });
      const client = new Client({ connection });
      /** `effscale versions --json`, as an operator asks whether a release can go. */
      const versions = async (): Promise<Map<string, DeploymentVersion>> => {
        const { stdout } = await run(process.execPath, [EFFSCALE, 'versions', '--json', '--address', address]);
        return new Map((JSON.parse(stdout) as DeploymentVersion[]).map((v) => [v.buildId, v]));
      };
      const version = async (build: string) => (await deploymentVersions(client)).find((v) => v.buildId === build);
      const buildOf = async (search: Attached) => searchVersion(await search.handle.describe()).buildId;
      try {
        const [podA] = (await workerPodsOf(A)).map((p) => p.metadata?.name);
        assert.ok(podA);
        const rollout = (name: string, parallelism: number): SearchSpecInput => ({
          ...SPEC,
          name,
          execution: { ...SPEC.execution, parallelism },
        });

        // A search on release A, one candidate at a time: held (paused) once it has trained one, so that it is
        // still running, pinned to A, when release B rolls out — however fast the grid would otherwise train.
        const old = await startOrAttach(client, await specFile(work, rollout('rollout-old', 1)));
        await until('the first search to train a candidate on A', async () => {
          const progress = await client.workflow
            .getHandle(chunkWorkflowId(old.workflowId, 0))
            .query(chunkProgressQuery);
          return progress.trainings.succeeded >= 1;
        });
        await old.handle.signal(pauseSignal);
        assert.ok(pods.podsOfSearch(labelValue(old.workflowId)).size >= 1, 'it trained in a trainer pod');
        assert.equal(await buildOf(old), A);
        console.log(`${elapsed()}: the first search trained a candidate on ${A}`);

        // Release B: the next release's k8s/base with the same overlay. Only its own two objects are created; every
        // shared one is unchanged, and A's Deployment is left running.
        const applied = deploy(B);
        const lines = applied.split('\n');
        assert.ok(lines.includes(`deployment.apps/${workerDeployment(B)} created`), applied);
        assert.ok(lines.includes(`configmap/${trainerExecution(B)} created`), applied);
        const shared = lines.filter((l) => !l.includes(B));
        assert.ok(shared.length >= 6, applied);
        for (const line of shared) assert.match(line, / unchanged$/, 'a shared object is left as it is');
        rolledOut(B);
        const [podB] = (await workerPodsOf(B)).map((p) => p.metadata?.name);
        assert.ok(podB);
        await until(`build ${B} to be current`, async () => (await version(B))?.status === 'current');
        console.log(`${elapsed()}: ${B} current (its worker pod ${podB})`);
        assert.deepEqual(
          (await workerPodsOf(A)).map((p) => p.metadata?.name),
          [podA],
          "A's worker pod runs on, untouched",
        );
        let listed = await versions();
        assert.equal(listed.get(B)?.status, 'current');
        assert.equal(listed.get(A)?.status, 'draining');
        assert.ok((listed.get(A)?.openPinned ?? 0) >= 1, 'the first search is pinned to A');
        assert.equal(listed.get(A)?.removable, false, 'A still runs a search: not removable');

        // A search started now runs on B. Held as well, so that it is still running when A is deleted below.
        const fresh = await startOrAttach(client, await specFile(work, rollout('rollout-new', GPUS)));
        await until('the new search to run', async () => (await buildOf(fresh)) !== null);
        assert.equal(await buildOf(fresh), B, 'a search started after the rollout is on B');
        await fresh.handle.signal(pauseSignal);

        // The first search goes on, on A, while B is current.
        await old.handle.signal(resumeSignal);
        const oldResult: SearchResult = await old.handle.result();
        console.log(`${elapsed()}: the first search completed`);
        assert.equal(oldResult.status, 'completed');
        assert.deepEqual(oldResult.state.builds, [A], 'the first search ran on A only');
        assert.deepEqual([...(await activityIdentities(client, old.workflowId))], [podA], "in A's worker pod");
        const trainedOld = pods.podsOfSearch(labelValue(old.workflowId));
        assert.ok(trainedOld.size >= 4, `the whole grid and its finalist (${trainedOld.size})`);
        for (const [candidate, names] of trainedOld)
          assert.equal(names.length, 1, `one pod for ${candidate}: ${names}`);

        // Visibility is eventually consistent: A becomes removable a moment after its last search closes.
        await until(`build ${A} to be removable`, async () => (await version(A))?.removable === true, 60_000);
        listed = await versions();
        assert.equal(listed.get(A)?.removable, true, 'A is removable once its searches are done');
        assert.equal(listed.get(A)?.openPinned, 0);
        assert.equal(listed.get(B)?.status, 'current');
        assert.equal(listed.get(B)?.removable, false, 'B is current (and runs a search)');
        console.log(`${elapsed()}: ${A} removable`);

        // A release is removed as docs/kubernetes.md says; B, and the search held on it, carry on.
        console.log(
          kubectl('-n', NAMESPACE, 'delete', `deployment/${workerDeployment(A)}`, `configmap/${trainerExecution(A)}`),
        );
        await until("A's worker pod to be gone", async () => (await workerPodsOf(A)).length === 0, 90_000);
        await fresh.handle.signal(resumeSignal);
        const freshResult: SearchResult = await fresh.handle.result();
        console.log(`${elapsed()}: the second search completed, after A was deleted`);
        assert.equal(freshResult.status, 'completed');
        assert.ok(Number.isFinite(freshResult.best?.score));
        assert.deepEqual(freshResult.state.builds, [B], 'the second search ran on B only');
        assert.deepEqual([...(await activityIdentities(client, fresh.workflowId))], [podB], "in B's worker pod");
        const trainedFresh = pods.podsOfSearch(labelValue(fresh.workflowId));
        for (const [candidate, names] of trainedFresh)
          assert.equal(names.length, 1, `one pod for ${candidate}: ${names}`);
        listed = await versions();
        assert.equal(listed.get(B)?.status, 'current');
        assert.deepEqual(
          (await workerPodsOf(B)).map((p) => p.metadata?.name),
          [podB],
          "B's worker pod ran throughout",
        );
      } finally {
        await connection.close();
      }
    },
  );
});
