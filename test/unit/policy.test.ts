import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { SpecError } from '../../scaling/validate.js';
import { kubernetesExecutionFor } from '../../executors/kubernetes/defaults.js';
import { admitLocal, admitPaths, loadPolicy } from '../../executors/policy.js';
import { searchSpec } from './spec.js';
import { quantityValue } from '../../executors/kubernetes/quantity.js';
import { OperatorPolicy } from '../../schemas/policy.js';
import { Execution, type SearchSpecInput } from '../../schemas/search.js';

/** Team A's profile: its namespace, ServiceAccount and claims, one GPU per pod, at most 4 GPUs at once. */
const policy = OperatorPolicy.parse({
  local: { allowed: true },
  profiles: {
    default: {
      kubernetes: {
        namespace: 'team-a',
        image: 'ghcr.io/effscale/trainer:0.2.0',
        serviceAccountName: 'effscale-trainer',
        resources: { requests: { cpu: '4', memory: '16Gi' }, limits: { memory: '32Gi', 'nvidia.com/gpu': '1' } },
        volumes: {
          artifacts: { claimName: 'team-a-artifacts', mountPath: '/artifacts' },
          dataset: { claimName: 'team-a-datasets', mountPath: '/datasets', readOnly: true },
        },
        nodeSelector: { 'nvidia.com/gpu.product': 'A100' },
      },
      images: ['ghcr.io/effscale/trainer@sha256:0123', 'registry.example.com/team-a/*'],
      maxGpus: 4,
    },
    small: {
      kubernetes: {
        namespace: 'team-a-small',
        image: 'ghcr.io/effscale/trainer:0.2.0',
        volumes: {
          artifacts: { claimName: 'team-a-artifacts', mountPath: '/artifacts' },
          dataset: { claimName: 'team-a-datasets', mountPath: '/datasets', subPath: 'shared' },
        },
      },
      datasetSubPath: false,
    },
  },
});

type ExecutionInput = NonNullable<SearchSpecInput['execution']>;
const execution = (input: ExecutionInput) => Execution.parse({ executor: 'kubernetes', ...input });

function refusal(input: ExecutionInput): string[] {
  try {
    kubernetesExecutionFor(execution(input), policy);
  } catch (err) {
    if (err instanceof SpecError) return [...err.issues];
    throw err;
  }
  return [];
}

test('a spec within its profile runs with the profile, its GPU quota counted in GPUs', () => {
  const resolved = kubernetesExecutionFor(
    execution({
      kubernetes: {
        image: 'registry.example.com/team-a/trainer:exp-3',
        resources: { requests: { cpu: '2' }, limits: { memory: '8Gi' } },
        volumes: { dataset: { subPath: 'imagenet/2026' } },
        gpuQuota: 2,
        heartbeatSeconds: 5,
        nodeLoss: { silentSeconds: 30 },
      },
    }),
    policy,
  );
  assert.equal(resolved.namespace, 'team-a');
  assert.equal(resolved.serviceAccountName, 'effscale-trainer');
  assert.equal(resolved.image, 'registry.example.com/team-a/trainer:exp-3');
  assert.deepEqual(resolved.resources.limits, { memory: '8Gi', 'nvidia.com/gpu': '1' });
  assert.equal(resolved.volumes.dataset?.subPath, 'imagenet/2026');
  assert.equal(resolved.gpuQuota, 2);
  assert.equal(kubernetesExecutionFor(execution({}), policy).gpuQuota, 4, '4 GPUs at 1 per pod: 4 pods');
  assert.deepEqual(refusal({ kubernetes: { serviceAccountName: 'effscale-trainer' } }), [], 'the same value is fine');
});

test('a spec outside its profile is refused, every field named', () => {
  assert.deepEqual(
    refusal({
      kubernetes: {
        image: 'docker.io/library/busybox',
        command: ['sh', '-c', 'curl evil'],
        serviceAccountName: 'effscale-worker',
        volumes: { artifacts: { claimName: 'team-b-artifacts' }, dataset: { subPath: '../team-b' } },
        resources: { limits: { memory: '64Gi', 'nvidia.com/gpu': '8' }, requests: { 'example.com/fpga': '1' } },
        gpuQuota: 16,
        kubeconfig: '/etc/other-cluster',
        nodeLoss: { forceDelete: true },
        env: { AWS_SECRET: 'x' },
      },
    }).sort(),
    [
      'execution.kubernetes.command: the profile "default" sets ["node","/app/bin/effscale-trainer.js"]; a search may not change it',
      'execution.kubernetes.env.AWS_SECRET: the profile "default" sets nothing; a search may not change it',
      'execution.kubernetes.gpuQuota: 16 pods is more than the profile "default" allows (4)',
      'execution.kubernetes.image: docker.io/library/busybox is not an image the profile "default" allows (ghcr.io/effscale/trainer:0.2.0, ghcr.io/effscale/trainer@sha256:0123, registry.example.com/team-a/*)',
      'execution.kubernetes.kubeconfig: the profile "default" sets nothing; a search may not change it',
      'execution.kubernetes.nodeLoss.forceDelete: the profile "default" sets false; a search may not change it',
      'execution.kubernetes.resources.limits.memory: 64Gi is more than the profile "default" allows (32Gi)',
      'execution.kubernetes.resources.limits.nvidia.com/gpu: 8 is more than the profile "default" allows (1)',
      'execution.kubernetes.resources.requests.example.com/fpga: the profile "default" allows no requests of example.com/fpga',
      'execution.kubernetes.serviceAccountName: the profile "default" sets "effscale-trainer"; a search may not change it',
      'execution.kubernetes.volumes.artifacts.claimName: the profile "default" sets "team-a-artifacts"; a search may not change it',
      'execution.kubernetes.volumes.dataset.subPath: expected a relative path inside the dataset volume',
    ],
  );
  assert.deepEqual(refusal({ profile: 'small', kubernetes: { volumes: { dataset: { subPath: 'x' } } } }), [
    'execution.kubernetes.volumes.dataset.subPath: the profile "small" fixes the dataset volume\'s subPath',
  ]);
  assert.throws(
    () => kubernetesExecutionFor(execution({ profile: 'gpu-max' }), policy),
    /execution\.profile: no profile "gpu-max" on this worker \(it has: default, small\)/,
  );
});

test('the local executor and a spec’s own trainer command need the operator’s leave', () => {
  const local = (input: ExecutionInput) => Execution.parse({ executor: 'local', ...input });
  const strict = OperatorPolicy.parse({ profiles: { default: {} } });
  assert.throws(
    () => admitLocal(local({}), strict),
    /execution\.executor: local: this worker trains only on Kubernetes/,
  );
  admitLocal(local({}), policy);
  assert.throws(
    () => admitLocal(local({ local: { trainer: ['bash', '-c', 'id'] } }), policy),
    /execution\.local\.trainer: the operator policy allows no trainer command/,
  );
});

test('the policy file is validated when the worker starts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effscale-policy-'));
  const good = join(dir, 'policy.yaml');
  writeFileSync(good, toYaml({ profiles: { default: { maxGpus: 8 } } }));
  assert.equal(loadPolicy(good)?.profiles.default.maxGpus, 8);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, toYaml({ defaultProfile: 'gpu', profiles: { default: {} } }));
  assert.throws(() => loadPolicy(bad), /bad\.yaml[\s\S]*defaultProfile must name one of the profiles/);
  assert.equal(loadPolicy(''), undefined);
});

test('Kubernetes quantities compare as numbers', () => {
  assert.equal(quantityValue('500m'), 0.5);
  assert.equal(quantityValue('2Gi'), 2 * 2 ** 30);
  assert.equal(quantityValue('1e3'), 1000);
  assert.ok(quantityValue('33G') < quantityValue('32Gi'), 'decimal and binary units compare');
  assert.throws(() => quantityValue('lots'), /not a Kubernetes quantity/);
});

test('paths a spec names on the worker must be inside the operator’s roots', () => {
  const roots = OperatorPolicy.parse({
    roots: { registry: ['/artifacts/team-a/registry'], datasets: ['/datasets/shared', '/datasets/team-a'] },
    profiles: { default: {} },
  });
  const spec = (registry: string | undefined, dataset: Record<string, string>) =>
    searchSpec({
      registry: registry === undefined ? {} : { path: registry },
      task: { dataset: { format: 'image-folder', ...dataset } },
    } as never);
  admitPaths(spec('/artifacts/team-a/registry/v2', { path: '/datasets/shared/imagenet' }), roots);
  assert.throws(
    () =>
      admitPaths(spec('/artifacts/team-b/registry', { path: '/datasets/team-a/../team-b/x', valPath: '/etc' }), roots),
    (err: SpecError) =>
      assert.deepEqual(err.issues, [
        'registry.path: /artifacts/team-b/registry is outside the registries this worker allows (/artifacts/team-a/registry)',
        'task.dataset.path: /datasets/team-a/../team-b/x is outside the dataset folders this worker allows (/datasets/shared, /datasets/team-a)',
        'task.dataset.valPath: /etc is outside the dataset folders this worker allows (/datasets/shared, /datasets/team-a)',
      ]) === undefined,
  );
  assert.throws(
    () => admitPaths(spec('/tmp/registry', { path: '/datasets/shared/x' }), policy),
    /registry\.path: \/tmp\/registry is outside the registries this worker allows \(none\)/,
  );
});
