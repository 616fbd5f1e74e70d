import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { startCluster, type TestCluster } from './cluster.js';
import { renderKustomization, repoRoot } from './kustomize.js';
import { KubernetesExecution } from '../../schemas/kubernetes.js';
import { parseSpec } from '../../scaling/validate.js';

describe('k8s manifests against a real kube-apiserver', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster();
    console.log(`kube-apiserver: ${cluster.version} at ${cluster.server}`);
  });
  after(async () => cluster?.stop());

  for (const variant of ['base', 'overlays/gpu']) {
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
      const configMap = objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
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
    });
  }

  it('the worker ServiceAccount can manage pods in its namespace and nothing else', async () => {
    const objects = renderKustomization(join(repoRoot(), 'k8s', 'base'));
    await cluster.apply(objects.filter((o) => o.kind !== 'Namespace' && o.kind !== 'Deployment'));
    const { kubeConfig } = await cluster.serviceAccountKubeConfig('effscale', 'effscale-worker');
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await core.listNamespacedPod({ namespace: 'effscale' });
    const forbidden = async (call: () => Promise<unknown>, what: string) => {
      await assert.rejects(call, (e: unknown) => e instanceof ApiException && e.code === 403, `${what} is forbidden`);
    };
    await forbidden(() => core.listNamespacedSecret({ namespace: 'effscale' }), 'reading secrets');
    await forbidden(() => core.listNamespacedPod({ namespace: 'default' }), 'pods in another namespace');
    await forbidden(() => core.listNode(), 'listing nodes');
    await forbidden(
      () => core.patchNamespacedPodStatus({ name: 'x', namespace: 'effscale', body: {} }),
      'writing pod status',
    );
  });
});
