import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse, stringify } from 'yaml';
import {
  ApiException,
  CoreV1Api,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Deployment,
} from '@kubernetes/client-node';
import type { WorkflowBundle } from '@temporalio/worker';
import { startCluster, type TestCluster } from './cluster.js';
import { renderKustomization, repoRoot } from './kustomize.js';
import { RELEASE_LABEL, k8sFiles, k8sOfRelease, selects, trainerExecution, workerDeployment } from './releases.js';
import { KubernetesExecution } from '../../schemas/kubernetes.js';
import { imageRelease, trainerImageTooOld } from '../../executors/kubernetes/image-release.js';
import { packageVersion } from '../../schemas/release.js';
import { parseSpec } from '../../scaling/validate.js';
import { releaseOf, releaseOfBuild } from '../../worker/release.js';

/** A call the API server must refuse with 403. */
async function forbidden(call: () => Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(call, (e: unknown) => e instanceof ApiException && e.code === 403, `${what} is forbidden`);
}

describe('k8s manifests against a real kube-apiserver', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster();
    console.log(`kube-apiserver: ${cluster.version} at ${cluster.server}`);
  });
  after(async () => cluster?.stop());

  for (const variant of ['base', 'overlays/gpu', 'teams/team-a']) {
    it(`${variant}: every object passes a server-side dry run, runs non-root, and its trainer template validates`, async () => {
      const objects = renderKustomization(join(repoRoot(), 'k8s', variant));
      const namespace = objects.filter((o) => o.kind === 'Namespace');
      // Namespaced objects cannot be dry-run into a namespace that does not exist yet.
      await cluster.apply(namespace, { dryRun: false }).catch((e: unknown) => {
        if (!(e instanceof ApiException && e.code === 409)) throw e;
      });
      const rest = objects.filter((o) => o.kind !== 'Namespace');
      const accepted = await cluster.apply(rest, { dryRun: true });
      assert.equal(accepted.length, rest.length);
      const kinds = new Set(objects.map((o) => o.kind));
      for (const kind of [
        'Namespace',
        'ServiceAccount',
        'Role',
        'RoleBinding',
        'PersistentVolumeClaim',
        'ConfigMap',
        'Deployment',
      ]) {
        assert.ok(kinds.has(kind), `${variant} has a ${kind}`);
      }
      assert.ok(!kinds.has('ClusterRole') && !kinds.has('ClusterRoleBinding'), 'nothing cluster-wide');
      const configMap = objects.find(
        (o) => o.kind === 'ConfigMap' && 'kubernetes.yaml' in ((o as V1ConfigMap).data ?? {}),
      ) as unknown as { data: Record<string, string> };
      const execution = parseSpec(
        KubernetesExecution,
        parse(configMap.data['kubernetes.yaml']),
        `${variant} trainer-execution`,
      );
      assert.ok(execution.runAsUser >= 1);
      if (variant === 'overlays/gpu') {
        assert.equal(execution.resources.limits['nvidia.com/gpu'], '1');
        assert.ok(execution.tolerations.length > 0 && Object.keys(execution.nodeSelector).length > 0);
      }
      const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as {
        spec: { template: { spec: { securityContext: { runAsNonRoot: boolean } } } };
      };
      assert.equal(deployment.spec.template.spec.securityContext.runAsNonRoot, true);
      const template = parse(configMap.data['kubernetes.yaml']) as { namespace?: string };
      assert.equal(template.namespace, undefined, "trainers go to the worker's own namespace: the template names none");
      if (variant === 'teams/team-a') teamGuardrails(objects, 'effscale-team-a', 'team-a');
    });
  }

  // Claims are namespaced and a pod mounts only its own namespace's: a worker that can create pods only in its team's
  // namespace (its trainers have no token at all) can only ever reach its team's volumes.
  it("two teams: each one's worker manages pods in its own namespace only, so only its team's claims", async () => {
    const work = mkdtempSync(join(tmpdir(), 'effscale-teams-'));
    try {
      const teamA = renderKustomization(join(repoRoot(), 'k8s', 'teams', 'team-a'));
      const teamB = renderKustomization(copyTeam(work, 'team-b'));
      teamGuardrails(teamB, 'effscale-team-b', 'team-b');
      for (const team of [teamA, teamB]) {
        // The variant's dry run above created team A's namespace already.
        await cluster.apply(team.filter((o) => o.kind === 'Namespace')).catch((e: unknown) => {
          if (!(e instanceof ApiException && e.code === 409)) throw e;
        });
        await cluster.apply(team.filter((o) => o.kind !== 'Namespace' && o.kind !== 'Deployment'));
      }
      const { kubeConfig } = await cluster.serviceAccountKubeConfig('effscale-team-a', 'effscale-worker');
      const core = kubeConfig.makeApiClient(CoreV1Api);
      await core.listNamespacedPod({ namespace: 'effscale-team-a' });
      await forbidden(() => core.listNamespacedPod({ namespace: 'effscale-team-b' }), "listing team B's pods");
      await forbidden(
        () => core.createNamespacedPod({ namespace: 'effscale-team-b', body: { metadata: { name: 'x' } } }),
        "creating a pod in team B's namespace (the only way to mount its claims)",
      );
      await forbidden(
        () => core.readNamespacedPersistentVolumeClaim({ name: 'effscale-artifacts', namespace: 'effscale-team-b' }),
        "reading team B's claim",
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('production Temporal: every certificate and key the worker reads is a file of a mounted Secret', async () => {
    const work = mkdtempSync(join(tmpdir(), 'effscale-production-'));
    try {
      const k8s = relative(work, join(repoRoot(), 'k8s'));
      writeFileSync(
        join(work, 'kustomization.yaml'),
        stringify({ resources: [`${k8s}/teams/team-a`], components: [`${k8s}/components/production-temporal`] }),
      );
      const objects = renderKustomization(work);
      const deployment = objects.find((o): o is V1Deployment => o.kind === 'Deployment');
      assert.equal((await cluster.apply([deployment as KubernetesObject], { dryRun: true })).length, 1);
      const pod = deployment?.spec?.template.spec;
      const worker = pod?.containers.find((c) => c.name === 'worker');
      const secretMounts = (worker?.volumeMounts ?? []).filter((m) =>
        pod?.volumes?.some((v) => v.name === m.name && v.secret),
      );
      for (const name of [
        'TEMPORAL_TLS_CLIENT_CERT_PATH',
        'TEMPORAL_TLS_CLIENT_KEY_PATH',
        'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
        'EFFSCALE_PAYLOAD_KEY_FILE',
      ]) {
        const path = worker?.env?.find((e) => e.name === name)?.value ?? '';
        assert.ok(
          secretMounts.some((m) => path.startsWith(`${m.mountPath}/`) && m.readOnly),
          `${name}=${path} is in a read-only Secret mount`,
        );
      }
      assert.ok(!JSON.stringify(worker?.env).includes('BEGIN'), 'no certificate or key as a literal in the manifest');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('images pinned by digest: the worker through kustomize `images:`, the trainer in the ConfigMap', async () => {
    const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
    const work = mkdtempSync(join(tmpdir(), 'effscale-digest-'));
    try {
      writeFileSync(
        join(work, 'kustomization.yaml'),
        stringify({
          apiVersion: 'kustomize.config.k8s.io/v1beta1',
          kind: 'Kustomization',
          resources: [relative(work, join(repoRoot(), 'k8s', 'base'))],
          images: [{ name: 'ghcr.io/effscale/worker', digest }],
        }),
      );
      const objects = renderKustomization(work);
      const deployment = objects.find((o): o is V1Deployment => o.kind === 'Deployment');
      assert.equal(deployment?.spec?.template.spec?.containers[0].image, `ghcr.io/effscale/worker@${digest}`);
      // The release stays in the names, the label and the build id: only the image reference changed.
      assert.equal(deployment?.metadata?.name, workerDeployment(packageVersion));
      assert.equal((await cluster.apply([deployment as KubernetesObject], { dryRun: true })).length, 1);
      // The trainer image is a field of the template: a digest reference is one like any other.
      const configMap = objects.find(
        (o): o is V1ConfigMap => o.kind === 'ConfigMap' && 'kubernetes.yaml' in ((o as V1ConfigMap).data ?? {}),
      );
      const defaults = parse(configMap?.data?.['kubernetes.yaml'] ?? '') as Record<string, unknown>;
      const execution = parseSpec(
        KubernetesExecution,
        { ...defaults, image: `ghcr.io/effscale/trainer:${packageVersion}@${digest}` },
        'trainer-execution with a digest',
      );
      assert.equal(execution.image, `ghcr.io/effscale/trainer:${packageVersion}@${digest}`);
      // The tag still names the release, which the executor checks against its worker's (image-release.ts).
      assert.equal(imageRelease(execution.image), packageVersion);
      assert.equal(trainerImageTooOld(execution.image), undefined);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('the worker ServiceAccount can manage pods in its namespace and nothing else', async () => {
    const objects = renderKustomization(join(repoRoot(), 'k8s', 'base'));
    await cluster.apply(objects.filter((o) => o.kind !== 'Namespace' && o.kind !== 'Deployment'));
    const { kubeConfig } = await cluster.serviceAccountKubeConfig('effscale', 'effscale-worker');
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await core.listNamespacedPod({ namespace: 'effscale' });
    await forbidden(() => core.listNamespacedSecret({ namespace: 'effscale' }), 'reading secrets');
    await forbidden(() => core.listNamespacedPod({ namespace: 'default' }), 'pods in another namespace');
    await forbidden(() => core.listNode(), 'listing nodes');
    await forbidden(
      () => core.patchNamespacedPodStatus({ name: 'x', namespace: 'effscale', body: {} }),
      'writing pod status',
    );
  });
});

/**
 * A second team as an operator adds one: k8s/teams/team-a copied, its two names changed (docs/operating.md).
 * Returns the copy's folder; its paths to k8s/base and k8s/components lead to the repository's.
 */
function copyTeam(work: string, team: string): string {
  const source = readFileSync(join(repoRoot(), 'k8s', 'teams', 'team-a', 'kustomization.yaml'), 'utf8');
  const dir = join(work, team);
  mkdirSync(dir);
  const k8s = `${relative(dir, join(repoRoot(), 'k8s'))}/`;
  writeFileSync(join(dir, 'kustomization.yaml'), source.replaceAll('team-a', team).replaceAll('../../', k8s));
  return dir;
}

/** A team overlay: everything in the team's namespace, its own Temporal namespace, and the guardrails around it. */
function teamGuardrails(objects: KubernetesObject[], namespace: string, temporalNamespace: string) {
  for (const o of objects.filter((o) => o.kind !== 'Namespace'))
    assert.equal(o.metadata?.namespace, namespace, `${o.kind}/${o.metadata?.name} is in the team's namespace`);
  for (const kind of ['NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PodDisruptionBudget'])
    assert.ok(
      objects.some((o) => o.kind === kind),
      `the team has a ${kind}`,
    );
  const worker = (objects.find((o) => o.kind === 'Deployment') as V1Deployment).spec?.template.spec?.containers[0];
  const temporal = worker?.env?.find((e) => e.name === 'TEMPORAL_NAMESPACE')?.value;
  assert.equal(temporal, temporalNamespace, "the team's own Temporal namespace: its own task queue and workflow ids");
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy') as (KubernetesObject & {
    spec: { podSelector: { matchLabels?: object }; policyTypes: string[] };
  })[];
  const denyAll = policies.find((p) => !p.spec.podSelector.matchLabels);
  assert.deepEqual(denyAll?.spec.policyTypes, ['Ingress', 'Egress'], 'trainers reach nothing and nothing reaches them');
}

/** What differs between two releases' k8s/: the objects labelled with the release, and nothing else. */
function releaseObjects(objects: KubernetesObject[]) {
  const own = objects.filter((o) => o.metadata?.labels?.[RELEASE_LABEL] !== undefined);
  const deployments = own.filter((o): o is V1Deployment => o.kind === 'Deployment');
  const configMaps = own.filter((o): o is V1ConfigMap => o.kind === 'ConfigMap');
  assert.equal(deployments.length, 1, 'one worker Deployment per release');
  assert.equal(configMaps.length, 1, 'one trainer-execution ConfigMap per release');
  assert.equal(own.length, 2, `only the Deployment and the ConfigMap are per release: ${own.map((o) => o.kind)}`);
  return { deployment: deployments[0], configMap: configMaps[0], shared: objects.filter((o) => !own.includes(o)) };
}

describe('k8s/ is one release, and the next goes beside it (kubectl kustomize, no cluster)', () => {
  it(`every release-specific name, label, build id and image tag is package.json's version (${packageVersion})`, () => {
    const v = packageVersion;
    // One version, one tag: whatever looks like a version anywhere in k8s/ is this one (comments included; an
    // address such as 0.0.0.0 is not a version).
    const versions = /(?<![\w.])v?\d+\.\d+\.\d+(?!\.\d)(?:-[0-9A-Za-z][0-9A-Za-z.-]*)?/g;
    for (const file of k8sFiles()) {
      for (const [found] of readFileSync(file, 'utf8').matchAll(versions))
        assert.equal(found, v, `${relative(repoRoot(), file)} names release ${found}, package.json ${v}`);
    }
    for (const [variant, trainerRepository] of [
      ['base', 'ghcr.io/effscale/trainer'],
      ['overlays/gpu', 'ghcr.io/effscale/trainer-gpu'],
    ] as const) {
      const { deployment, configMap, shared } = releaseObjects(renderKustomization(join(repoRoot(), 'k8s', variant)));
      const where = `${variant}: `;
      assert.equal(deployment.metadata?.name, workerDeployment(v), where + 'the Deployment is named by the release');
      assert.equal(configMap.metadata?.name, trainerExecution(v), where + 'the ConfigMap is named by the release');
      for (const [what, labels] of [
        ['Deployment', deployment.metadata?.labels],
        ['selector', deployment.spec?.selector.matchLabels],
        ['pod template', deployment.spec?.template.metadata?.labels],
        ['ConfigMap', configMap.metadata?.labels],
      ] as const)
        assert.equal(labels?.[RELEASE_LABEL], v, `${where}${what} label ${RELEASE_LABEL}`);
      const pod = deployment.spec?.template.spec;
      const worker = pod?.containers.find((c) => c.name === 'worker');
      assert.equal(worker?.image, `ghcr.io/effscale/worker:${v}`, where + 'the worker image is the release');
      const buildId = worker?.env?.find((e) => e.name === 'EFFSCALE_BUILD_ID')?.value;
      assert.equal(buildId, v, where + 'EFFSCALE_BUILD_ID is the release');
      // The worker accepts it as its build (worker/release.ts), and reads the release back from it.
      const release = releaseOf({ code: '' } as WorkflowBundle, { EFFSCALE_BUILD_ID: buildId });
      assert.equal(release.buildId, v);
      assert.equal(releaseOfBuild(release.buildId), v);
      const mounted = pod?.volumes?.find((vol) => vol.configMap)?.configMap?.name;
      assert.equal(mounted, trainerExecution(v), where + "the worker mounts its own release's trainer template");
      const execution = parseSpec(KubernetesExecution, parse(configMap.data?.['kubernetes.yaml'] ?? ''), variant);
      assert.equal(execution.image, `${trainerRepository}:${v}`, where + 'the trainer image is the release');
      // Shared objects (namespace, ServiceAccounts, RBAC, claims) are the same object for every release.
      for (const o of shared)
        assert.ok(
          !JSON.stringify(o).includes(v),
          `${where}${o.kind}/${o.metadata?.name} does not depend on the release`,
        );
    }
  });

  it("the next release's k8s/base adds its own Deployment and ConfigMap and leaves every shared object as it is", () => {
    const work = mkdtempSync(join(tmpdir(), 'effscale-releases-'));
    try {
      const [major, minor] = packageVersion.split('.');
      const next = `${major}.${Number(minor) + 1}.0`;
      const current = releaseObjects(renderKustomization(join(repoRoot(), 'k8s', 'base')));
      const upgraded = releaseObjects(renderKustomization(join(k8sOfRelease(work, next), 'base')));
      // kubectl apply of the next release: every shared object unchanged, two objects created beside the old ones.
      assert.deepEqual(upgraded.shared, current.shared);
      assert.notEqual(upgraded.deployment.metadata?.name, current.deployment.metadata?.name);
      assert.notEqual(upgraded.configMap.metadata?.name, current.configMap.metadata?.name);
      assert.equal(upgraded.deployment.metadata?.name, workerDeployment(next));
      // Neither release's ReplicaSets count (or adopt) the other's worker pods.
      for (const [one, other] of [
        [current.deployment, upgraded.deployment],
        [upgraded.deployment, current.deployment],
      ]) {
        const selector = one.spec?.selector.matchLabels ?? {};
        assert.ok(selects(selector, one.spec?.template.metadata?.labels ?? {}));
        assert.ok(!selects(selector, other.spec?.template.metadata?.labels ?? {}), 'releases select apart');
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
