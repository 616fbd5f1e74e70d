import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { logNode, stopNode } from './harness.js';
import { startRealNode, type RealNode } from './node.js';

/**
 * Pods on a real kubelet (containerd, runc, CNI bridge) scheduled by the real scheduler: a non-root container of a
 * locally built image whose termination message comes back through the API, and a memory limit enforced by the
 * kernel's memory cgroup. The node is torn down afterwards and must leave the host as it found it.
 */

const NAMESPACE = 'default';

let node: RealNode;
let core: CoreV1Api;

function pod(name: string, script: string, memory: string, limits: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, namespace: NAMESPACE },
    spec: {
      restartPolicy: 'Never',
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 },
      containers: [
        {
          name: 'main',
          image: node.nodeImage,
          imagePullPolicy: 'Never',
          args: ['-e', script],
          resources: { requests: { cpu: '100m', memory }, limits: { memory, ...limits } },
          securityContext: { allowPrivilegeEscalation: false },
        },
      ],
    },
  };
}

async function phaseOf(name: string): Promise<V1Pod> {
  return core.readNamespacedPod({ name, namespace: NAMESPACE });
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await sleep(500);
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function finished(name: string, timeoutMs = 60_000): Promise<V1Pod> {
  const deadline = Date.now() + timeoutMs;
  let last: V1Pod | undefined;
  while (Date.now() < deadline) {
    last = await core.readNamespacedPod({ name, namespace: NAMESPACE });
    if (last.status?.phase === 'Succeeded' || last.status?.phase === 'Failed') return last;
    await sleep(500);
  }
  assert.fail(`pod ${name} did not finish in ${timeoutMs / 1000} s: ${JSON.stringify(last?.status)}`);
}

describe('a real node', { timeout: 10 * 60_000 }, () => {
  before(async () => {
    node = await startRealNode({ gpus: 2 });
    core = node.admin.makeApiClient(CoreV1Api);
    logNode(node);
  });

  after(async () => {
    if (node) await stopNode(node);
  });

  it('runs a non-root pod of a local image; its termination message and logs come back through the API', async () => {
    const script =
      "console.log('hello from uid ' + process.getuid()); " +
      "require('fs').writeFileSync('/dev/termination-log', JSON.stringify({ uid: process.getuid(), ok: true }))";
    await core.createNamespacedPod({ namespace: NAMESPACE, body: pod('hello', script, '128Mi') });
    const done = await finished('hello');
    const state = done.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(done.status?.phase, 'Succeeded', JSON.stringify(done.status));
    assert.equal(done.spec?.nodeName, node.nodeName, 'bound by the scheduler');
    assert.equal(state?.exitCode, 0);
    assert.deepEqual(JSON.parse(state?.message ?? '{}'), { uid: 1000, ok: true });
    // pods/log: the API server to the kubelet with its client certificate, verifying the kubelet's serving one.
    const log = await core.readNamespacedPodLog({ name: 'hello', namespace: NAMESPACE, container: 'main' });
    assert.equal(log, 'hello from uid 1000\n');
  });

  it('kills a pod that allocates beyond its memory limit: OOMKilled, exit 137', async () => {
    const script = 'const a = []; for (;;) a.push(Buffer.alloc(16 << 20, 1));';
    await core.createNamespacedPod({ namespace: NAMESPACE, body: pod('hog', script, '64Mi') });
    const done = await finished('hog');
    const state = done.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(done.status?.phase, 'Failed', JSON.stringify(done.status));
    assert.equal(state?.reason, 'OOMKilled', JSON.stringify(state));
    assert.equal(state?.exitCode, 137);
  });

  it('schedules nvidia.com/gpu for real: two pods of capacity 2 run, the third stays Pending until one ends', async () => {
    const gpu = { 'nvidia.com/gpu': '1' };
    const sleeper = 'setTimeout(() => {}, 3_600_000)';
    for (const name of ['gpu-a', 'gpu-b']) {
      await core.createNamespacedPod({ namespace: NAMESPACE, body: pod(name, sleeper, '128Mi', gpu) });
    }
    await until('gpu-a and gpu-b Running', async () => {
      const pods = await Promise.all(['gpu-a', 'gpu-b'].map(phaseOf));
      return pods.every((p) => p.status?.phase === 'Running');
    });
    await core.createNamespacedPod({ namespace: NAMESPACE, body: pod('gpu-c', sleeper, '128Mi', gpu) });
    await until('gpu-c Unschedulable', async () => {
      const c = (await phaseOf('gpu-c')).status?.conditions?.find((x) => x.type === 'PodScheduled');
      return c?.status === 'False' && c.reason === 'Unschedulable';
    });
    const waiting = await phaseOf('gpu-c');
    assert.equal(waiting.status?.phase, 'Pending');
    assert.equal(waiting.spec?.nodeName, undefined);
    const condition = waiting.status?.conditions?.find((x) => x.type === 'PodScheduled');
    assert.match(condition?.message ?? '', /Insufficient nvidia\.com\/gpu/);
    await core.deleteNamespacedPod({ name: 'gpu-a', namespace: NAMESPACE, gracePeriodSeconds: 1 });
    await until('gpu-c Running once gpu-a is gone', async () => (await phaseOf('gpu-c')).status?.phase === 'Running');
  });
});
