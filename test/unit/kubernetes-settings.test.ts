import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpecError } from '../../scaling/validate.js';
import { KubernetesSettings, mergeSettings, resolveKubernetesExecution } from '../../schemas/kubernetes.js';
import { loadKubernetesDefaults } from '../../executors/kubernetes/defaults.js';
import { buildPod, candidateOnPod, toLocalPath } from '../../executors/kubernetes/pod.js';
import { CandidateSpec } from '../../schemas/candidate.js';
import { getPreset } from '../../scaling/presets.js';

const defaults = {
  image: 'registry.example.com/effscale-trainer:1',
  resources: { requests: { cpu: '2', memory: '4Gi' }, limits: { memory: '8Gi' } },
  volumes: { artifacts: { claimName: 'effscale-artifacts', mountPath: '/artifacts' } },
  tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' as const }],
  env: { A: '1' },
};

test('a search spec layer merges over the worker defaults: objects by key, arrays and values replaced', () => {
  const execution = resolveKubernetesExecution(
    defaults,
    { resources: { limits: { 'nvidia.com/gpu': '1' } }, tolerations: [], env: { B: '2' }, noop: true },
    'defaults.yaml',
  );
  assert.equal(execution.image, defaults.image);
  assert.deepEqual(execution.resources.limits, { memory: '8Gi', 'nvidia.com/gpu': '1' });
  assert.deepEqual(execution.resources.requests, { cpu: '2', memory: '4Gi' });
  assert.deepEqual(execution.tolerations, []);
  assert.deepEqual(execution.env, { A: '1', B: '2' });
  assert.equal(execution.noop, true);
  assert.equal(execution.namespace, 'effscale', 'schema defaults fill what neither layer sets');
  assert.deepEqual(mergeSettings({ a: [1, 2] }, { a: [3] }), { a: [3] });
});

test('a layer is checked field by field but may leave anything out; the merged whole must be complete', () => {
  assert.equal(KubernetesSettings.safeParse({}).success, true);
  assert.equal(KubernetesSettings.safeParse({ volumes: { artifacts: { mountPath: '/a' } } }).success, true);
  assert.equal(KubernetesSettings.safeParse({ imagePullPolicy: 'Sometimes' }).success, false);
  assert.equal(KubernetesSettings.safeParse({ gpus: 1 }).success, false, 'unknown fields are rejected');
  assert.throws(
    () => resolveKubernetesExecution(undefined, { noop: true }),
    (err: unknown) =>
      err instanceof SpecError &&
      /execution\.kubernetes\.image/.test(err.message) &&
      /execution\.kubernetes\.volumes/.test(err.message),
  );
});

test('the defaults file: YAML validated as a layer, errors name the file and the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effscale-k8s-defaults-'));
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'image: trainer:1\nresources:\n  limits: { memory: 1Gi }\n');
  assert.deepEqual(loadKubernetesDefaults(good).settings, {
    image: 'trainer:1',
    resources: { limits: { memory: '1Gi' } },
  });
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'runAsUser: 0\n');
  assert.throws(() => loadKubernetesDefaults(bad), /bad\.yaml[\s\S]*runAsUser/);
  assert.throws(() => loadKubernetesDefaults(join(dir, 'missing.yaml')), /missing\.yaml: cannot read/);
  assert.deepEqual(loadKubernetesDefaults(''), {});
});

test('a worker in a pod launches its trainers in its own namespace unless its defaults name another', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effscale-k8s-namespace-'));
  const namespaceFile = join(dir, 'namespace');
  writeFileSync(namespaceFile, 'effscale-team-a\n');
  const unnamed = join(dir, 'unnamed.yaml');
  writeFileSync(unnamed, 'image: trainer:1\n');
  const named = join(dir, 'named.yaml');
  writeFileSync(named, 'image: trainer:1\nnamespace: trainers\n');
  assert.equal(loadKubernetesDefaults(unnamed, namespaceFile).settings?.namespace, 'effscale-team-a');
  assert.equal(loadKubernetesDefaults(named, namespaceFile).settings?.namespace, 'trainers');
  assert.deepEqual(loadKubernetesDefaults('', namespaceFile), { settings: { namespace: 'effscale-team-a' } });
  assert.equal(loadKubernetesDefaults(unnamed, join(dir, 'not-in-a-pod')).settings?.namespace, undefined);
});

test("a pod's paths and file:// URIs map back to the worker's side of the artifacts volume", () => {
  const volume = { claimName: 'a', mountPath: '/artifacts', localPath: '/srv/effscale', readOnly: false };
  assert.equal(toLocalPath(volume, '/artifacts/s/c/model'), '/srv/effscale/s/c/model');
  assert.equal(toLocalPath(volume, 'file:///artifacts/s/c/model'), 'file:///srv/effscale/s/c/model');
  assert.equal(toLocalPath(volume, '/elsewhere/model'), '/elsewhere/model', 'outside the volume: unchanged');
});

test('a candidate reads every dataset path and its index where the pod mounts them', () => {
  const volumes = {
    artifacts: { claimName: 'a', mountPath: '/artifacts', localPath: '/srv/effscale', readOnly: false },
    dataset: { claimName: 'd', mountPath: '/datasets', localPath: '/mnt/data', readOnly: true },
  };
  const spec = CandidateSpec.parse({
    id: 'c',
    architecture: getPreset('micro-32'),
    task: {
      dataset: {
        format: 'manifest',
        path: '/mnt/data/imagenet/train.csv',
        root: '/mnt/data/imagenet/train',
        valPath: '/mnt/data/imagenet/val.csv',
        valRoot: '/mnt/data/imagenet/val',
        index: '/srv/effscale/searches/s1/datasets/manifest-0123',
      },
    },
    training: {},
  });
  const onPod = candidateOnPod(spec, volumes).task.dataset;
  assert.deepEqual(onPod, {
    ...spec.task.dataset,
    path: '/datasets/imagenet/train.csv',
    root: '/datasets/imagenet/train',
    valPath: '/datasets/imagenet/val.csv',
    valRoot: '/datasets/imagenet/val',
    index: '/artifacts/searches/s1/datasets/manifest-0123',
  });
  assert.equal(spec.task.dataset.path, '/mnt/data/imagenet/train.csv', 'the worker-side spec is left alone');
  const folder = {
    ...spec,
    task: {
      ...spec.task,
      dataset: { format: 'image-folder' as const, path: '/mnt/data/x', valPath: '/elsewhere/v', skipCorrupt: false },
    },
  };
  assert.deepEqual(candidateOnPod(folder, volumes).task.dataset, { ...folder.task.dataset, path: '/datasets/x' });
});

test("a trainer pod writes its own candidate's directory and reads the rest of the artifacts volume", () => {
  const execution = resolveKubernetesExecution(defaults, {}, 'defaults.yaml');
  const job = { searchId: 's', candidateId: 'c', spec: {} as CandidateSpec, outDir: '/artifacts/s/c', labels: {} };
  const mounts = (out: string, artifacts = execution.volumes.artifacts) =>
    buildPod(
      'p',
      job,
      { ...execution, volumes: { ...execution.volumes, artifacts } },
      { spec: `${out}/x`, out },
    ).spec?.containers[0].volumeMounts?.filter((m) => m.name === 'artifacts');
  assert.deepEqual(mounts('/artifacts/searches/s/candidates/c'), [
    { name: 'artifacts', mountPath: '/artifacts', subPath: undefined, readOnly: true },
    {
      name: 'artifacts',
      mountPath: '/artifacts/searches/s/candidates/c',
      subPath: 'searches/s/candidates/c',
      readOnly: false,
    },
  ]);
  const teamA = { ...execution.volumes.artifacts, subPath: 'team-a' };
  assert.equal(mounts('/artifacts/searches/s/candidates/c', teamA)?.[1].subPath, 'team-a/searches/s/candidates/c');
  assert.deepEqual(
    mounts('/tmp'),
    [{ name: 'artifacts', mountPath: '/artifacts', subPath: undefined, readOnly: false }],
    'a directory off the volume (the preflight pod) leaves the volume as configured',
  );
});

test('trainer pods give up a lost node after nodeLoss.tolerationSeconds, not Kubernetes’ default 300 s', () => {
  const execution = resolveKubernetesExecution(defaults, { nodeLoss: { tolerationSeconds: 12 } }, 'defaults.yaml');
  const job = { searchId: 's', candidateId: 'c', spec: {} as CandidateSpec, outDir: '/artifacts/c', labels: {} };
  const pod = buildPod('p', job, execution, { spec: '/artifacts/c/candidate.json', out: '/artifacts/c' });
  assert.deepEqual(pod.spec?.tolerations, [
    { key: 'nvidia.com/gpu', operator: 'Exists' },
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 12 },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 12 },
  ]);
  assert.deepEqual(execution.nodeLoss, { tolerationSeconds: 12, silentSeconds: 60, forceDelete: false });
  assert.deepEqual(
    pod.spec?.volumes?.find((v) => v.name === 'tmp'),
    { name: 'tmp', emptyDir: { sizeLimit: '8Gi' } },
    "a runaway trainer fills its own /tmp, not the node's disk",
  );
});
