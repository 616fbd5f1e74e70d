import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { ExecutorPool } from '../../executors/index.js';
import { KubernetesExecutor } from '../../executors/kubernetes/executor.js';
import { labelValue, podBaseName } from '../../executors/kubernetes/names.js';
import {
  CandidateInputError,
  TrainingFailure,
  type TrainingHooks,
  type TrainingJob,
} from '../../executors/executor.js';
import type { TrainProgress } from '../../schemas/candidate.js';
import type { KubernetesExecutionInput } from '../../schemas/kubernetes.js';
import { Execution } from '../../schemas/search.js';
import { NAMESPACE, candidateSpec, startFixture, type K8sFixture } from './harness.js';

const SEARCH = 'k8s-exec';

function job(f: K8sFixture, candidateId: string): TrainingJob {
  return {
    searchId: SEARCH,
    candidateId,
    spec: candidateSpec(candidateId),
    outDir: join(f.artifacts, SEARCH, candidateId),
    labels: { workflowId: `search-${SEARCH}`, alpha: '1.2', beta: '1.1', gamma: '1.15' },
  };
}

function hooks(signal = new AbortController().signal, progress: TrainProgress[] = []): TrainingHooks {
  return { onProgress: (p) => progress.push(p), signal };
}

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected the training to fail');
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A search spec's `execution` on Kubernetes with these settings: what a worker's pool is asked for. */
function kubernetes(settings: KubernetesExecutionInput): Execution {
  return Execution.parse({ executor: 'kubernetes', kubernetes: settings });
}

describe(
  'KubernetesExecutor on a real node: trainer-image pods, RBAC, ServiceAccount token',
  { timeout: 30 * 60_000 },
  () => {
    let f: K8sFixture;
    before(async () => {
      f = await startFixture();
    });
    after(async () => f?.stop());

    const pods = async (candidateId: string): Promise<V1Pod[]> =>
      (
        await f.admin.listNamespacedPod({
          namespace: NAMESPACE,
          labelSelector: `effscale.dev/candidate=${labelValue(candidateId)}`,
        })
      ).items;

    it('trains a candidate as a labelled non-root pod and returns the termination-message result', async () => {
      const executor = new KubernetesExecutor(
        f.execution({ env: { FIXTURE_SLEEP_MS: '1500' }, cleanup: { deleteSucceeded: false, keepFailedMinutes: 60 } }),
      );
      const progress: TrainProgress[] = [];
      const result = await executor.train(job(f, 'ok-1'), hooks(undefined, progress));
      assert.equal(result.candidateId, 'ok-1');
      assert.equal(result.backend, 'fixture');
      assert.equal(result.modelUri, join(f.artifacts, SEARCH, 'ok-1', 'model'), 'model path mapped back to the worker');
      const [pod] = await pods('ok-1');
      assert.equal(pod.metadata?.name, podBaseName(SEARCH, 'ok-1'));
      assert.equal(pod.metadata?.labels?.['app.kubernetes.io/managed-by'], 'effscale-executor');
      assert.equal(pod.metadata?.labels?.['effscale.dev/search'], SEARCH);
      assert.equal(pod.metadata?.annotations?.['effscale.dev/alpha'], '1.2');
      assert.equal(pod.metadata?.annotations?.['effscale.dev/workflowid'], `search-${SEARCH}`);
      assert.equal(pod.spec?.securityContext?.runAsNonRoot, true);
      assert.equal(pod.spec?.containers[0].resources?.requests?.['nvidia.com/gpu'], '1');
      assert.equal(pod.spec?.nodeName, f.node.nodeName, 'bound by the scheduler, run by the kubelet');
      const terminated = pod.status?.containerStatuses?.[0].state?.terminated;
      assert.equal(terminated?.exitCode, 0);
      const message = JSON.parse(terminated?.message ?? '{}') as { candidateId?: string };
      assert.equal(message.candidateId, 'ok-1', 'the result came back through the kubelet as the termination message');
      assert.ok(progress.length > 0, 'heartbeats/progress while the pod ran');
    });

    it("a trainer writes its own candidate's directory only: another candidate's result is read-only to it", async () => {
      const execution = f.execution();
      const other = join(f.artifacts, SEARCH, 'ok-1', 'result.json');
      const before = readFileSync(other, 'utf8');
      const onPod = `${execution.volumes.artifacts.mountPath}/${SEARCH}/ok-1/result.json`;
      const hostile = new KubernetesExecutor(f.execution({ env: { FIXTURE_WRITE: onPod } }));
      const result = await hostile.train(job(f, 'confined-1'), hooks());
      assert.equal(result.candidateId, 'confined-1', 'its own directory took its result');
      assert.equal(readFileSync(join(f.artifacts, SEARCH, 'confined-1', 'write-outcome.txt'), 'utf8'), 'EROFS');
      assert.equal(readFileSync(other, 'utf8'), before, "the other candidate's result is untouched");
    });

    it('deletes a succeeded pod by default', async () => {
      await new KubernetesExecutor(f.execution()).train(job(f, 'ok-2'), hooks());
      assert.deepEqual(await pods('ok-2'), []);
    });

    it('adopts the running pod after the worker dies: one pod per candidate', async () => {
      const execution = f.execution({ env: { FIXTURE_SLEEP_MS: '3000' } });
      const payload = JSON.stringify({ execution, job: job(f, 'adopt-1') });
      const worker = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'train-once.js'), payload], {
        stdio: 'ignore',
      });
      await until('the first worker to start the pod', async () =>
        (await pods('adopt-1')).find((p) => p.status?.phase === 'Running'),
      );
      worker.kill('SIGKILL');
      const result = await new KubernetesExecutor(execution).train(job(f, 'adopt-1'), hooks());
      assert.equal(result.candidateId, 'adopt-1');
      assert.deepEqual(f.pods.podsFor('adopt-1'), [podBaseName(SEARCH, 'adopt-1')], 'never two pods for one candidate');
    });

    it('deletes a pod that succeeded while its worker was dead once its result is reused', async () => {
      const execution = f.execution({ env: { FIXTURE_SLEEP_MS: '1500' } });
      const payload = JSON.stringify({ execution, job: job(f, 'orphan-1') });
      const worker = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'train-once.js'), payload], {
        stdio: 'ignore',
      });
      await until('the pod to run', async () => (await pods('orphan-1')).find((p) => p.status?.phase === 'Running'));
      worker.kill('SIGKILL');
      await until('the unwatched pod to succeed', async () =>
        (await pods('orphan-1')).find((p) => p.status?.phase === 'Succeeded'),
      );
      await new KubernetesExecutor(execution).release(SEARCH, 'orphan-1');
      assert.deepEqual(await pods('orphan-1'), []);
    });

    it('maps a non-zero exit to a retryable failure, keeps the failed pod, and a retry runs a new pod', async () => {
      const failing = new KubernetesExecutor(f.execution({ env: { FIXTURE_EXIT: '1' } }));
      const error = await failureOf(failing.train(job(f, 'fail-1'), hooks()));
      assert.ok(error instanceof TrainingFailure);
      assert.equal(error.type, 'TrainerFailed');
      assert.equal(error.retryable, true);
      assert.match(error.message, /exit code 1.*fixture trainer failing/s);
      const result = await new KubernetesExecutor(f.execution()).train(job(f, 'fail-1'), hooks());
      assert.equal(result.candidateId, 'fail-1');
      const names = (await pods('fail-1')).map((p) => `${p.metadata?.name}:${p.status?.phase}`);
      assert.deepEqual(names, [`${podBaseName(SEARCH, 'fail-1')}:Failed`]);
      assert.deepEqual(f.pods.podsFor('fail-1').sort(), [
        podBaseName(SEARCH, 'fail-1'),
        `${podBaseName(SEARCH, 'fail-1')}-r1`,
      ]);
    });

    it('exit code 2 (bad input) is non-retryable; OOMKilled is reported as such', async () => {
      const bad = await failureOf(
        new KubernetesExecutor(f.execution({ env: { FIXTURE_EXIT: '2' } })).train(job(f, 'bad-1'), hooks()),
      );
      assert.ok(bad instanceof CandidateInputError, String(bad));
      const oom = await failureOf(
        new KubernetesExecutor(
          f.execution({
            env: { FIXTURE_ALLOC_MB: '400', FIXTURE_SLEEP_MS: '2000' },
            resources: { requests: { memory: '64Mi' }, limits: { memory: '128Mi' } },
          }),
        ).train(job(f, 'oom-1'), hooks()),
      );
      assert.ok(oom instanceof TrainingFailure);
      assert.equal(oom.type, 'OOMKilled');
      assert.equal(oom.retryable, false);
    });

    it('cancelling deletes the pod', async () => {
      const controller = new AbortController();
      const training = new KubernetesExecutor(f.execution({ env: { FIXTURE_SLEEP_MS: '60000' } })).train(
        job(f, 'cancel-1'),
        hooks(controller.signal),
      );
      await until('the pod to run', async () => (await pods('cancel-1')).find((p) => p.status?.phase === 'Running'));
      controller.abort();
      await assert.rejects(training, /cancelled/);
      await until('the pod to be gone', async () => ((await pods('cancel-1')).length === 0 ? true : undefined));
    });

    it('an invalid pod template fails before any pod starts, naming the field', async () => {
      const executor = new KubernetesExecutor(
        f.execution({ resources: { requests: { cpu: '2' }, limits: { cpu: '1', memory: '1Gi' } } }),
      );
      const error = await failureOf(executor.preflight(SEARCH));
      assert.ok(error instanceof TrainingFailure);
      assert.equal(error.type, 'InvalidPodTemplate');
      assert.match(error.message, /spec\.containers\[0\]\.resources\.requests/);
      const again = await failureOf(executor.train(job(f, 'invalid-1'), hooks()));
      assert.equal((again as TrainingFailure).type, 'InvalidPodTemplate');
      assert.deepEqual(f.pods.podsFor('invalid-1'), []);
    });

    it('RBAC: a namespace the ServiceAccount has no rights in is Forbidden', async () => {
      const error = await failureOf(
        new KubernetesExecutor(f.execution({ namespace: 'default' })).train(job(f, 'rbac-1'), hooks()),
      );
      assert.ok(error instanceof TrainingFailure);
      assert.equal(error.type, 'Forbidden');
      assert.equal(error.retryable, false);
    });

    it('an image that cannot be pulled and an unschedulable pod fail after their timeouts', async () => {
      const pull = await failureOf(
        new KubernetesExecutor(
          f.execution({
            image: 'registry.invalid/nope:1',
            imagePullPolicy: 'IfNotPresent',
            imagePullTimeoutSeconds: 2,
          }),
        ).train(job(f, 'pull-1'), hooks()),
      );
      assert.equal((pull as TrainingFailure).type, 'ImagePullFailed');
      const unschedulable = await failureOf(
        new KubernetesExecutor(
          f.execution({ nodeSelector: { 'cloud.example/pool': 'a100' }, unschedulableTimeoutSeconds: 2 }),
        ).train(job(f, 'sched-1'), hooks()),
      );
      assert.equal((unschedulable as TrainingFailure).type, 'Unschedulable');
      assert.match(unschedulable.message, /didn't match/);
      assert.deepEqual(await pods('sched-1'), [], 'the stuck pod is withdrawn');
    });

    it('a pod deleted by someone else is a retryable PodDeleted failure', async () => {
      const training = new KubernetesExecutor(f.execution({ env: { FIXTURE_SLEEP_MS: '60000' } })).train(
        job(f, 'deleted-1'),
        hooks(),
      );
      const pod = await until('the pod to run', async () =>
        (await pods('deleted-1')).find((p) => p.status?.phase === 'Running'),
      );
      await f.admin.deleteNamespacedPod({ name: pod.metadata?.name ?? '', namespace: NAMESPACE });
      const error = await failureOf(training);
      assert.equal((error as TrainingFailure).type, 'PodDeleted');
      assert.equal((error as TrainingFailure).retryable, true);
    });

    it('the GPU quota holds under a wide grid, across the executors of one worker', async () => {
      // Two settings of one namespace (two searches): the worker's pool gives them one check-and-create turn.
      const pool = new ExecutorPool();
      const executors = ['700', '600'].map((ms) =>
        pool.for(kubernetes(f.execution({ gpuQuota: 2, env: { FIXTURE_SLEEP_MS: ms } }))),
      );
      assert.notEqual(executors[0], executors[1]);
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const list = await f.admin.listNamespacedPod({
            namespace: NAMESPACE,
            labelSelector: `effscale.dev/search=${SEARCH}`,
          });
          const active = list.items.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
          peak = Math.max(peak, active.length);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const ids = Array.from({ length: 7 }, (_, i) => `grid-${i}`);
      const results = await Promise.all(ids.map((id, i) => executors[i % 2].train(job(f, id), hooks())));
      sampling = false;
      await sampler;
      assert.equal(results.length, ids.length);
      assert.ok(peak <= 2, `at most 2 trainer pods pending or running, saw ${peak}`);
      assert.ok(peak >= 1);
    });

    it("one executor per setting for the worker's life; failed pods go by the pool's sweep, not by trainings", async () => {
      const pool = new ExecutorPool();
      const cleanup = { deleteSucceeded: true, keepFailedMinutes: 0 };
      const failingSettings = f.execution({ env: { FIXTURE_EXIT: '1' }, cleanup });
      const failing = pool.for(kubernetes(failingSettings));
      assert.equal(pool.for(kubernetes(failingSettings)), failing, 'the same executor for the same setting');
      assert.equal(failing.heartbeatSeconds, 0.5, "the activity heartbeats at the setting's interval");
      await failureOf(failing.train(job(f, 'sweep-1'), hooks()));
      // Another training does no housekeeping: the failed pod, past its keep time, is still there.
      await pool.for(kubernetes(f.execution({ cleanup }))).train(job(f, 'sweep-2'), hooks());
      assert.deepEqual(
        (await pods('sweep-1')).map((p) => p.status?.phase),
        ['Failed'],
      );
      await pool.sweep();
      await until('the failed pod swept', async () => ((await pods('sweep-1')).length === 0 ? true : undefined));
    });
  },
);
