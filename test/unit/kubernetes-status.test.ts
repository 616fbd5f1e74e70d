import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { KubernetesExecution } from '../../schemas/kubernetes.js';
import { lostNode, podState } from '../../executors/kubernetes/status.js';
import { imageRelease, trainerImageTooOld } from '../../executors/kubernetes/image-release.js';

const execution = KubernetesExecution.parse({
  namespace: 'effscale',
  image: 'trainer:1',
  volumes: { artifacts: { claimName: 'a', mountPath: '/artifacts' } },
});

/** A trainer pod its kubelet stopped with `exitCode` (143: SIGTERM, 137: SIGKILL at the end of the grace period). */
function stopped(exitCode: number, metadata: V1Pod['metadata'] = {}, conditions: object[] = []): V1Pod {
  return {
    metadata: { name: 'p', ...metadata },
    spec: { nodeName: 'n', containers: [] },
    status: {
      phase: 'Failed',
      conditions: conditions as never,
      containerStatuses: [
        {
          name: 'trainer',
          image: 'trainer:1',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode, reason: 'Error' } },
        },
      ],
    },
  };
}

test('a failed exit is the trainer’s failure unless the pod was being deleted or evicted', () => {
  assert.deepEqual(podState(stopped(1), execution), {
    kind: 'failed',
    failure: { type: 'TrainerFailed', exitCode: 1, message: 'exit code 1 (Error)' },
  });
  const deleted = podState(stopped(143, { deletionTimestamp: new Date() }), execution);
  assert.equal(deleted.kind === 'failed' && deleted.failure.type, 'PodDeleted');
  const evicted = podState(
    stopped(137, { deletionTimestamp: new Date() }, [
      { type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI', message: 'Eviction API' },
    ]),
    execution,
  );
  assert.deepEqual(evicted, {
    kind: 'failed',
    failure: { type: 'NodeLost', message: 'EvictionByEvictionAPI: Eviction API' },
  });
  const running = { ...stopped(0), status: { phase: 'Running' } };
  const deleting = podState({ ...running, metadata: { name: 'p', deletionTimestamp: new Date() } }, execution);
  assert.equal(deleting.kind === 'failed' && deleting.failure.type, 'PodDeleted', 'still running, but going');
  const done = { ...stopped(0), status: { phase: 'Succeeded' }, metadata: { deletionTimestamp: new Date() } };
  assert.equal(podState(done, execution).kind, 'succeeded', 'a result written before the deletion still counts');
});

test('a pod evicted for outgrowing its own disk is the trainer’s failure; one evicted by a full node is a disruption', () => {
  const evicted = (message: string): V1Pod => {
    const pod = stopped(137);
    return { ...pod, status: { ...pod.status, reason: 'Evicted', message } };
  };
  const own = podState(evicted('Usage of EmptyDir volume "tmp" exceeds the limit "8Gi". '), execution);
  assert.equal(own.kind === 'failed' && own.failure.type, 'EphemeralStorageExceeded');
  assert.match(own.kind === 'failed' ? own.failure.message : '', /execution\.kubernetes\.tmpSizeLimit/);
  const container = podState(
    evicted('Container trainer exceeded its local ephemeral storage limit "1Gi". '),
    execution,
  );
  assert.equal(container.kind === 'failed' && container.failure.type, 'EphemeralStorageExceeded');
  const node = podState(evicted('The node was low on resource: ephemeral-storage. '), execution);
  assert.equal(node.kind === 'failed' && node.failure.type, 'NodeLost', "the node's shortage is not the trainer's");
});

test('a trainer that refuses a newer candidate contract fails as TrainerTooOld, not as bad input', () => {
  const pod = stopped(3);
  const container = pod.status?.containerStatuses?.[0];
  if (container?.state?.terminated)
    container.state.terminated.message = 'candidate contract 3, and this trainer reads up to 2';
  assert.deepEqual(podState(pod, execution), {
    kind: 'failed',
    failure: { type: 'TrainerTooOld', exitCode: 3, message: 'candidate contract 3, and this trainer reads up to 2' },
  });
});

test('a trainer image of an earlier release than its worker is refused before any pod; other tags are the operator’s', () => {
  assert.match(
    trainerImageTooOld('ghcr.io/effscale/trainer:0.1.0', '0.2.0') ?? '',
    /^execution\.kubernetes\.image: ghcr\.io\/effscale\/trainer:0\.1\.0 is effscale 0\.1\.0, older than this worker \(0\.2\.0\)/,
  );
  assert.ok(
    trainerImageTooOld('registry:5000/trainer:0.1.9@sha256:ab', '0.2.0'),
    'a tag pinned by digest still names it',
  );
  for (const image of [
    'trainer:0.2.0',
    'trainer:0.10.0',
    'trainer:latest',
    'registry:5000/trainer',
    'trainer@sha256:ab',
  ])
    assert.equal(trainerImageTooOld(image, '0.2.0'), undefined, image);
  assert.equal(imageRelease('registry:5000/trainer'), undefined, 'a registry port is not a tag');
});

test('a running pod the cluster marked not ready, whose trainer is silent, is on a lost node', () => {
  const t0 = Date.parse('2026-12-06T10:00:00Z');
  const pod = (ready: 'True' | 'False', phase = 'Running'): V1Pod => ({
    metadata: { name: 'p' },
    spec: { nodeName: 'gpu-7', containers: [] },
    status: { phase, conditions: [{ type: 'Ready', status: ready, lastTransitionTime: new Date(t0) }] },
  });
  const silentSeconds = execution.nodeLoss.silentSeconds;
  assert.equal(silentSeconds, 60);
  assert.equal(lostNode(pod('True'), execution, t0 - 600_000, t0 + 600_000), undefined, 'ready: not lost');
  assert.equal(lostNode(pod('False'), execution, t0, t0 + 59_000), undefined, 'not silent long enough');
  assert.equal(lostNode(pod('False'), execution, t0 + 30_000, t0 + 80_000), undefined, 'the trainer spoke since');
  assert.equal(lostNode(pod('False', 'Pending'), execution, t0, t0 + 600_000), undefined, 'not running');
  assert.equal(
    lostNode(pod('False'), execution, t0 - 600_000, t0 + 61_000),
    'node gpu-7 lost: the pod is not ready and its trainer has been silent for 61 s',
  );
});
