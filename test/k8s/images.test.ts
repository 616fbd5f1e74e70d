import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { KubernetesExecutor } from '../../executors/kubernetes/executor.js';
import { CandidateSpec, type TrainProgress, type TrainResult } from '../../schemas/candidate.js';
import { Dataset } from '../../schemas/task.js';
import { getPreset } from '../../scaling/presets.js';
import { buildDatasetIndexes, datasetIndexDir, writeDatasetIndexes } from '../../trainer/data/dataset-index.js';
import { photoFolder } from '../integration/trainer/photos.js';
import { KubernetesExecution } from '../../schemas/kubernetes.js';
import { DATASETS, NAMESPACE, applyBase, bindClaims, candidateSpec, logImage, logNode, stopNode } from './harness.js';
import { trainerImage, workerImage, type LocalImage } from './images.js';
import { startRealNode, type RealNode } from './node.js';

/**
 * The repository's own images on a real node: infra/Dockerfile.trainer (`--target cpu`) and infra/Dockerfile.worker,
 * built with buildah on a locally made stand-in for the node base image (images.ts), imported into the node's
 * containerd. The trainer image loads native TensorFlow as a non-root, read-only-root pod and trains a candidate
 * through the KubernetesExecutor, with hostPath PersistentVolumes for the artifacts and datasets claims; the worker
 * image's entry point runs. A cold build takes minutes (see docs/kubernetes.md, Images); a warm one only imports.
 */

const UID = 1000;

let node: RealNode;
let core: CoreV1Api;
let trainer: LocalImage;
let worker: LocalImage;
let artifacts: string;
let trained: TrainResult | undefined;
/** The GPU target is several GB and takes minutes more to build: only with EFFSCALE_GPU_IMAGE=1. */
const GPU_IMAGE = process.env.EFFSCALE_GPU_IMAGE === '1';
let gpuTrainer: LocalImage | undefined;

/** A `node -e` script: the trainer's own loader (trainer/tf.ts), which never falls back to the pure-JS backend. */
const LOAD_TF =
  "import('/app/dist/trainer/tf.js').then((m) => { const tf = m.loadNativeTf(); require('fs').writeFileSync(" +
  "'/dev/termination-log', JSON.stringify({ uid: process.getuid(), package: m.nativePackage(), " +
  'backend: tf.getBackend(), tf: tf.backend().binding.TF_Version, tfjs: tf.version.tfjs, ' +
  'sum: tf.add(tf.scalar(2), tf.scalar(3)).dataSync()[0] })); })';

/** The restricted Pod Security profile the trainer pods of k8s/ run under. */
function restrictedPod(name: string, namespace: string, spec: V1Pod['spec']): V1Pod {
  return {
    metadata: { name, namespace },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: UID,
        runAsGroup: UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      ...spec,
      containers: (spec?.containers ?? []).map((c) => ({
        imagePullPolicy: 'Never',
        resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '2Gi' } },
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        },
        ...c,
      })),
    },
  };
}

async function finished(name: string, namespace = 'default', timeoutMs = 180_000): Promise<V1Pod> {
  const deadline = Date.now() + timeoutMs;
  let last: V1Pod | undefined;
  while (Date.now() < deadline) {
    last = await core.readNamespacedPod({ name, namespace });
    if (last.status?.phase === 'Succeeded' || last.status?.phase === 'Failed') return last;
    await sleep(500);
  }
  assert.fail(`pod ${name} did not finish in ${timeoutMs / 1000} s: ${JSON.stringify(last?.status)}`);
}

describe("the repository's images on a real node", { timeout: 60 * 60_000 }, () => {
  before(async () => {
    trainer = trainerImage('cpu');
    worker = workerImage();
    if (GPU_IMAGE) gpuTrainer = trainerImage('gpu');
    logImage('trainer (cpu)', trainer);
    logImage('worker', worker);
    if (gpuTrainer) logImage('trainer (gpu)', gpuTrainer);
    node = await startRealNode({ images: [trainer, worker, ...(gpuTrainer ? [gpuTrainer] : [])] });
    core = node.admin.makeApiClient(CoreV1Api);
    logNode(node);
  });

  after(async () => {
    if (artifacts) rmSync(artifacts, { recursive: true, force: true });
    if (node) await stopNode(node);
  });

  it('the trainer image loads native TensorFlow as a non-root pod with a read-only root', async () => {
    await core.createNamespacedPod({
      namespace: 'default',
      body: restrictedPod('trainer-backend', 'default', {
        containers: [{ name: 'main', image: trainer.name, command: ['node', '-e', LOAD_TF] }],
      }),
    });
    const done = await finished('trainer-backend');
    const state = done.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(done.status?.phase, 'Succeeded', JSON.stringify(done.status));
    const message = JSON.parse(state?.message ?? '{}') as Record<string, unknown>;
    console.log(`trainer pod: ${JSON.stringify(message)}`);
    assert.equal(message.uid, UID);
    assert.equal(message.package, '@tensorflow/tfjs-node');
    assert.equal(message.backend, 'tensorflow');
    assert.equal(message.tf, '2.21.0');
    assert.equal(message.sum, 5);
  });

  it(
    'the GPU trainer image loads tfjs-node-gpu on the CUDA build of TensorFlow (no driver here: on the CPU)',
    { skip: !GPU_IMAGE && 'set EFFSCALE_GPU_IMAGE=1 to build (about 12 minutes, 3.7 GB) and run the GPU image' },
    async () => {
      assert.ok(gpuTrainer);
      await core.createNamespacedPod({
        namespace: 'default',
        body: restrictedPod('trainer-gpu-backend', 'default', {
          containers: [
            {
              name: 'main',
              image: gpuTrainer.name,
              command: ['node', '-e', LOAD_TF],
              resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '4Gi' } },
            },
          ],
        }),
      });
      const done = await finished('trainer-gpu-backend');
      const state = done.status?.containerStatuses?.[0]?.state?.terminated;
      assert.equal(done.status?.phase, 'Succeeded', JSON.stringify(done.status));
      const message = JSON.parse(state?.message ?? '{}') as Record<string, unknown>;
      console.log(`GPU trainer pod: ${JSON.stringify(message)}`);
      assert.equal(message.uid, UID);
      assert.equal(message.package, '@tensorflow/tfjs-node-gpu', 'EFFSCALE_TFJS=gpu from the image');
      assert.equal(message.backend, 'tensorflow');
      assert.equal(message.tf, '2.21.0');
      assert.equal(message.sum, 5);
    },
  );

  it("the worker image's entry point runs: effscale --help exits 0", async () => {
    await core.createNamespacedPod({
      namespace: 'default',
      body: restrictedPod('worker-help', 'default', {
        containers: [{ name: 'main', image: worker.name, args: ['--help'] }],
      }),
    });
    const done = await finished('worker-help');
    assert.equal(done.status?.phase, 'Succeeded', JSON.stringify(done.status));
    assert.equal(done.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
    const log = await core.readNamespacedPodLog({ name: 'worker-help', namespace: 'default', container: 'main' });
    assert.match(log, /Usage: effscale/);
    assert.match(log, /\bworker\b/);
    assert.match(log, /\btrain\b/);
  });

  it('the KubernetesExecutor trains a candidate in a trainer-image pod and reads its result', async () => {
    const namespace = NAMESPACE;
    await applyBase(node);
    artifacts = mkdtempSync(join(tmpdir(), 'effscale-artifacts-'));
    await bindClaims(node, artifacts);
    const execution = KubernetesExecution.parse({
      namespace,
      image: trainer.name,
      imagePullPolicy: 'Never',
      resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '3Gi' } },
      volumes: {
        artifacts: { claimName: 'effscale-artifacts', mountPath: '/artifacts', localPath: artifacts },
        dataset: { claimName: 'effscale-datasets', mountPath: DATASETS, readOnly: true },
      },
      heartbeatSeconds: 1,
      cleanup: { deleteSucceeded: true, keepFailedMinutes: 60 },
    });
    const executor = new KubernetesExecutor(execution, { kubeConfig: node.admin });
    const search = 'images';
    const candidate = 'micro';
    const outDir = join(artifacts, search, candidate);
    // What a PVC's fsGroup gives a real volume: the trainer (uid 1000) may write the candidate's directory.
    mkdirSync(outDir, { recursive: true });
    chownSync(join(artifacts, search), UID, UID);
    chownSync(outDir, UID, UID);
    await executor.preflight(search, join(artifacts, search));
    const progress: TrainProgress[] = [];
    const began = Date.now();
    const result = await executor.train(
      {
        searchId: search,
        candidateId: candidate,
        spec: candidateSpec(candidate),
        outDir,
        labels: { workflowId: `search-${search}`, alpha: '1.2', beta: '1.1', gamma: '1.15' },
      },
      { onProgress: (p) => progress.push(p), signal: new AbortController().signal },
    );
    console.log(
      `# trained in a pod in ${((Date.now() - began) / 1000).toFixed(1)} s: ${result.metric} ${result.score.toFixed(3)}` +
        `, ${result.imagesPerSecond.toFixed(0)} images/s, ${result.backend} ${result.tfVersion}`,
    );
    assert.equal(result.candidateId, candidate);
    assert.equal(result.backend, 'tensorflow');
    assert.equal(result.tfVersion, '2.21.0');
    assert.equal(result.epochs.length, 1);
    assert.ok(Number.isFinite(result.score));
    assert.match(result.modelUri, /\/images\/micro\/model$/);
    assert.ok(existsSync(join(outDir, 'model', 'model.json')), 'the model is on the shared volume');
    trained = result;
    assert.ok(existsSync(join(outDir, 'result.json')), 'result.json is on the shared volume');
    assert.ok(
      progress.some((p) => p.type === 'batch'),
      'progress lines followed from the container log',
    );
    const left = await core.listNamespacedPod({ namespace });
    assert.deepEqual(
      left.items.map((p) => p.metadata?.name),
      [],
      'the succeeded pod is deleted once its result is read',
    );
  });

  it("trains an image folder with a validation folder and the plan's dataset index, mounted elsewhere in the pod", async () => {
    // The datasets claim is the host's /usr/share/datasets; the pod mounts it at /datasets, so every dataset path
    // (path, valPath) and the index (on the artifacts volume) must be mapped for the trainer to find its files.
    const photos = await photoFolder({ classes: 4, train: 32, val: 16 });
    const onHost = join(DATASETS, `effscale-test-photos-${process.pid}`);
    cpSync(photos, onHost, { recursive: true });
    try {
      const execution = KubernetesExecution.parse({
        namespace: NAMESPACE,
        image: trainer.name,
        imagePullPolicy: 'Never',
        resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '3Gi' } },
        volumes: {
          artifacts: { claimName: 'effscale-artifacts', mountPath: '/artifacts', localPath: artifacts },
          dataset: { claimName: 'effscale-datasets', mountPath: '/datasets', localPath: DATASETS, readOnly: true },
        },
        heartbeatSeconds: 1,
        cleanup: { deleteSucceeded: true, keepFailedMinutes: 60 },
      });
      const executor = new KubernetesExecutor(execution, { kubeConfig: node.admin });
      const search = 'photos';
      const dataset = Dataset.parse({
        format: 'image-folder',
        path: join(onHost, 'train'),
        valPath: join(onHost, 'val'),
      }) as Extract<Dataset, { format: 'image-folder' }>;
      const index = datasetIndexDir(join(artifacts, search, 'datasets'), dataset);
      await writeDatasetIndexes(await buildDatasetIndexes(dataset), index);
      const outDir = join(artifacts, search, 'folder');
      mkdirSync(outDir, { recursive: true });
      for (const dir of [join(artifacts, search), outDir]) chownSync(dir, UID, UID);
      const spec = CandidateSpec.parse({
        ...candidateSpec('folder'),
        architecture: { ...getPreset('micro-32'), classes: 4 },
        task: { dataset: { ...dataset, index } },
      });
      const result = await executor.train(
        { searchId: search, candidateId: 'folder', spec, outDir, labels: { workflowId: `search-${search}` } },
        { onProgress: () => undefined, signal: new AbortController().signal },
      );
      assert.equal(result.epochs.length, 1);
      assert.ok(result.inputWaitFraction !== undefined, 'trained through the input pipeline');
      const sent = JSON.parse(readFileSync(join(outDir, 'candidate.json'), 'utf8')) as CandidateSpec;
      assert.deepEqual(
        [sent.task.dataset.path, 'valPath' in sent.task.dataset && sent.task.dataset.valPath],
        [`/datasets/effscale-test-photos-${process.pid}/train`, `/datasets/effscale-test-photos-${process.pid}/val`],
      );
      assert.match(
        'index' in sent.task.dataset ? (sent.task.dataset.index ?? '') : '',
        /^\/artifacts\/photos\/datasets\//,
      );
    } finally {
      rmSync(onHost, { recursive: true, force: true });
    }
  });

  it("maps the trainer's file:// modelUri back to the worker's side of the artifacts volume", () => {
    assert.ok(trained, 'the training above succeeded');
    const uri = trained.modelUri;
    const local = uri.startsWith('file:') ? fileURLToPath(uri) : uri;
    assert.equal(local, join(artifacts, 'images', 'micro', 'model'));
  });
});
