import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { Client, WorkflowFailedError, CancelledFailure, ActivityFailure } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { labelValue } from '../../executors/kubernetes/names.js';
import { DEFAULTS_ENV } from '../../executors/kubernetes/defaults.js';
import { POLICY_ENV } from '../../executors/policy.js';
import { TrainResult } from '../../schemas/candidate.js';
import type { KubernetesSettingsInput } from '../../schemas/kubernetes.js';
import type { SearchSpecInput } from '../../schemas/search.js';
import { ensureDevServer, type DevServer } from '../../client/dev-server.js';
import { quietWorkerLogs } from '../../worker/worker.js';
import type { SearchResult } from '../../search/state.js';
import {
  candidateTable,
  createTestWorker,
  runs,
  start,
  startWorkerProcess,
  testSpec,
  trainingsOf,
  until,
} from '../integration/pipeline/harness.js';
import {
  FIXTURE_TRAINER,
  GPUS,
  NAMESPACE,
  pipelineDefaults,
  resultOf,
  startFixture,
  type K8sFixture,
} from './harness.js';
import { chunkWorkflowId } from '../../search/ids.js';
import { DEPLOYMENT_NAME } from '../../worker/release.js';
import { TRAINER_IMAGE_COMMAND } from '../../schemas/trainer-process.js';

quietWorkerLogs();

const CRASH_TRAINER = ['node', '/app/dist/test/fixtures/trainers/crash-at-resolution.js'];

function k8sSpec(
  name: string,
  kubernetes: KubernetesSettingsInput,
  execution: Partial<NonNullable<SearchSpecInput['execution']>> = {},
  rest: Partial<SearchSpecInput> = {},
) {
  return testSpec(name, {
    execution: {
      executor: 'kubernetes',
      parallelism: 7,
      retries: 1,
      failureBudget: 1,
      heartbeatTimeout: '10s',
      kubernetes: { noop: true, ...kubernetes },
      ...execution,
    },
    ...rest,
  });
}

/** The heartbeat details of the search's running trainings, as the Temporal server holds them. */
/** The heartbeats of the search's trainings: they run in its (first) chunk workflow. */
async function heartbeats(client: Client, workflowId: string): Promise<Record<string, unknown>[]> {
  const chunk = await client.workflow
    .getHandle(chunkWorkflowId(workflowId, 0))
    .describe()
    .catch(() => undefined); // not started yet
  const raw = chunk?.raw ?? {};
  return (raw.pendingActivities ?? []).flatMap((a) =>
    (a.heartbeatDetails?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload<Record<string, unknown>>(p)),
  );
}

describe(
  'searches with execution.executor kubernetes: the real pipeline on a real node',
  { timeout: 40 * 60_000 },
  () => {
    let f: K8sFixture;
    let server: DevServer;
    let native: NativeConnection;
    let client: Client;
    let stateDir: string;

    before(async () => {
      f = await startFixture();
      // The worker's defaults file, as the k8s/ Deployment mounts it; every search spec here sets only a few fields.
      const defaults = join(f.artifacts, 'kubernetes-defaults.yaml');
      writeFileSync(defaults, toYaml(pipelineDefaults(f)));
      process.env[DEFAULTS_ENV] = defaults;
      // Search directories live on the artifacts volume, where trainer pods read specs and write results.
      stateDir = join(f.artifacts, 'state');
      server = await ensureDevServer(mkdtempSync(join(tmpdir(), 'effscale-k8s-temporal-')));
      native = await NativeConnection.connect({ address: server.address });
      client = new Client({ connection: server.connection });
    });
    after(async () => {
      process.env[DEFAULTS_ENV] = '';
      await native?.close();
      await server?.stop();
      await f?.stop();
    });

    const podsOf = async (workflowId: string): Promise<V1Pod[]> =>
      (
        await f.admin.listNamespacedPod({
          namespace: NAMESPACE,
          labelSelector: `effscale.dev/search=${labelValue(workflowId)}`,
        })
      ).items;

    test('a search trains every unique candidate as exactly one trainer-image pod; results come back as termination messages', async () => {
      const spec = k8sSpec(
        'k8s-basic',
        { cleanup: { deleteSucceeded: false }, noop: false },
        {},
        { task: { dataset: { format: 'fashion-mnist' }, trainLimit: 256, valLimit: 128 } },
      );
      const worker = await createTestWorker(native, { stateDir });
      const { handle, workflowId } = await start(client, spec);
      const result: SearchResult = await worker.runUntil(resultOf(handle));

      assert.equal(result.status, 'completed');
      const { finals, registered } = result.state;
      const groups = new Map(trainingsOf(await candidateTable(stateDir, workflowId)).map((t) => [t.group, t]));
      assert.equal(groups.size, 7);
      assert.ok([...groups.values()].every((g) => g.state === 'succeeded'));
      assert.equal(registered.length, 1, 'the finalist trained as a pod is registered');

      const candidates = [...groups.keys(), ...finals.map((m) => `final-${m.member}`)];
      const seen = f.pods.podsOfSearch(labelValue(workflowId));
      assert.deepEqual([...seen.keys()].sort(), candidates.map(labelValue).sort(), 'a pod for every candidate');
      for (const [candidate, names] of seen) assert.equal(names.length, 1, `one pod for ${candidate}: ${names}`);

      const pods = await podsOf(workflowId);
      assert.equal(pods.length, candidates.length);
      for (const pod of pods) {
        const id = pod.metadata?.annotations?.['effscale.dev/candidate-id'] ?? '';
        const [container] = pod.spec?.containers ?? [];
        assert.equal(pod.status?.phase, 'Succeeded', id);
        assert.equal(pod.spec?.nodeName, f.node.nodeName, `${id}: bound by the scheduler, run by the kubelet`);
        assert.equal(container.image, f.trainer.name);
        assert.deepEqual(container.command, TRAINER_IMAGE_COMMAND, 'the real trainer ran');
        assert.ok(!container.args?.includes('--noop'));
        const message = pod.status?.containerStatuses?.[0].state?.terminated?.message ?? '';
        const fromPod = TrainResult.parse(JSON.parse(message));
        assert.equal(fromPod.candidateId, id);
        assert.equal(fromPod.backend, 'tensorflow', `${id}: trained on native TensorFlow in the pod`);
        assert.equal(fromPod.tfVersion, '2.21.0');
        const rep = groups.get(id);
        if (rep) {
          assert.equal(fromPod.score, rep.score, `${id}: the recorded score is the pod's termination message`);
          assert.equal(pod.metadata?.annotations?.['effscale.dev/alpha'], String(rep.alpha));
          assert.equal(pod.metadata?.annotations?.['effscale.dev/gamma'], String(rep.gamma));
        }
        assert.equal(pod.metadata?.annotations?.['effscale.dev/search-id'], workflowId);
      }
      const launches = (await runs(stateDir, workflowId)).filter((r) => r.event === 'launch');
      assert.equal(launches.length, candidates.length);
      assert.ok(
        launches.every((r) => r.pod && !r.pid),
        'launch records name the pod',
      );
    });

    test('a worker SIGKILLed mid-search is replaced; the new one adopts the running pods (no duplicates)', async () => {
      const spec = k8sSpec(
        'k8s-kill',
        { command: FIXTURE_TRAINER, env: { FIXTURE_SLEEP_MS: '15000' } },
        { retries: 2, heartbeatTimeout: '3s' },
        { final: { finalists: 0 } },
      );
      const workers: ChildProcess[] = [];
      try {
        const { handle, workflowId } = await start(client, spec);
        workers.push(startWorkerProcess(server.address, stateDir));
        let running: string[] = [];
        await until('trainer pods running', async () => {
          running = (await podsOf(workflowId))
            .filter((p) => p.status?.phase === 'Running')
            .map((p) => p.metadata?.name ?? '');
          return running.length >= GPUS;
        });
        // The replacement starts before the kill so it is polling by the time the dead worker's heartbeats time out.
        workers.push(startWorkerProcess(server.address, stateDir));
        workers[0].kill('SIGKILL');

        const result: SearchResult = await resultOf(handle);
        assert.equal(result.status, 'completed');
        const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
        assert.ok(trainings.every((t) => t.state === 'succeeded'));
        const seen = f.pods.podsOfSearch(labelValue(workflowId));
        assert.equal(seen.size, trainings.length);
        for (const [candidate, names] of seen) assert.equal(names.length, 1, `one pod for ${candidate}: ${names}`);

        const launches = (await runs(stateDir, workflowId)).filter((r) => r.event === 'launch');
        const adopted = launches.filter((r) => r.attempt > 1 && r.pod && running.includes(r.pod));
        assert.ok(adopted.length > 0, 'a later attempt adopted a pod the killed worker had started');
        for (const name of running) {
          const attempts = launches.filter((r) => r.pod === name).map((r) => r.attempt);
          assert.ok(attempts.length >= 1, `${name} recorded`);
        }
      } finally {
        for (const w of workers) w.kill('SIGKILL');
        // The worker processes are versioned and made their build current; the next tests' in-process workers are
        // not, and get the queue's tasks only while no build is current.
        await client.workflowService.setWorkerDeploymentCurrentVersion({
          namespace: 'default',
          deploymentName: DEPLOYMENT_NAME,
          buildId: '',
          ignoreMissingTaskQueues: true,
        });
      }
    });

    test('a failing pod (exit 1) is retried as a new pod, then recorded failed within the failure budget', async () => {
      // γ = 1.4 makes 28 px → 39 px: two dedup groups, both crash.
      const spec = k8sSpec(
        'k8s-crash',
        { command: CRASH_TRAINER, env: { CRASH_RESOLUTION: '39' } },
        { retries: 1, failureBudget: 2 },
        { final: { finalists: 0 } },
      );
      const worker = await createTestWorker(native, { stateDir });
      const { handle, workflowId } = await start(client, spec);
      const result: SearchResult = await worker.runUntil(resultOf(handle));

      assert.equal(result.status, 'completed');
      const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
      const failed = trainings.filter((t) => t.state === 'failed');
      assert.equal(failed.length, 2);
      const pods = await podsOf(workflowId);
      for (const group of failed) {
        const id = group.group;
        assert.match(group.error ?? '', /exit code 1/);
        assert.match(group.error ?? '', /simulated crash at resolution 39/, 'the pod log tail is the failure message');
        const own = pods.filter((p) => p.metadata?.annotations?.['effscale.dev/candidate-id'] === id);
        assert.equal(own.length, 2, `${id}: one pod per attempt, kept for debugging`);
        assert.deepEqual(own.map((p) => p.metadata?.name ?? '').sort(), [
          own[0].metadata?.name?.replace(/-r1$/, ''),
          `${own[0].metadata?.name?.replace(/-r1$/, '')}-r1`,
        ]);
        for (const pod of own) {
          assert.equal(pod.status?.phase, 'Failed');
          assert.equal(pod.status?.containerStatuses?.[0].state?.terminated?.exitCode, 1);
        }
      }
      const succeeded = trainings.filter((t) => t.state === 'succeeded');
      assert.equal(succeeded.length, 5);
      assert.equal(result.best?.score !== undefined, true);
    });

    test('a GPU quota below the search parallelism holds: never more active pods than the quota', async () => {
      const spec = k8sSpec(
        'k8s-quota',
        { command: FIXTURE_TRAINER, env: { FIXTURE_SLEEP_MS: '1500' }, gpuQuota: 2 },
        { parallelism: 7 },
        { final: { finalists: 0 } },
      );
      const worker = await createTestWorker(native, { stateDir });
      const { handle, workflowId } = await start(client, spec);
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const active = (await podsOf(workflowId)).filter(
            (p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
          );
          peak = Math.max(peak, active.length);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const result: SearchResult = await worker.runUntil(resultOf(handle)).finally(() => (sampling = false));
      await sampler;
      assert.equal(result.status, 'completed');
      assert.ok(trainingsOf(await candidateTable(stateDir, workflowId)).every((t) => t.state === 'succeeded'));
      assert.equal(peak, 2, `at most (and, with 7 trainings waiting, exactly) 2 pods active; saw ${peak}`);
    });

    test('GPU capacity 2 under 7 parallel candidates: the scheduler holds the others Pending, never running them', async () => {
      const spec = k8sSpec(
        'k8s-capacity',
        { command: FIXTURE_TRAINER, env: { FIXTURE_SLEEP_MS: '3000' } },
        { parallelism: 7 },
        { final: { finalists: 0 } },
      );
      const worker = await createTestWorker(native, { stateDir });
      const { handle, workflowId } = await start(client, spec);
      let peakRunning = 0;
      let peakPods = 0;
      const unschedulable = new Set<string>();
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const pods = await podsOf(workflowId);
          peakPods = Math.max(peakPods, pods.length);
          peakRunning = Math.max(peakRunning, pods.filter((p) => p.status?.phase === 'Running').length);
          for (const p of pods) {
            const scheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
            if (
              scheduled?.reason === 'Unschedulable' &&
              /Insufficient nvidia\.com\/gpu/.test(scheduled.message ?? '')
            ) {
              unschedulable.add(p.metadata?.name ?? '');
            }
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      const result: SearchResult = await worker.runUntil(resultOf(handle)).finally(() => (sampling = false));
      await sampler;
      assert.equal(result.status, 'completed');
      const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
      assert.equal(trainings.length, 7);
      assert.ok(trainings.every((t) => t.state === 'succeeded'));
      assert.ok(peakPods > GPUS, `the executor created more pods than GPUs (saw ${peakPods})`);
      assert.ok(unschedulable.size > 0, 'pods waited Unschedulable for lack of nvidia.com/gpu');
      assert.ok(peakRunning <= GPUS, `never more than ${GPUS} pods running; saw ${peakRunning}`);
      for (const [candidate, names] of f.pods.podsOfSearch(labelValue(workflowId))) {
        assert.equal(names.length, 1, `a waiting pod is not replaced: ${candidate} ran as ${names}`);
      }
    });

    test('trainer progress reaches the activity heartbeats; cancelling the search deletes its pods', async () => {
      const spec = k8sSpec(
        'k8s-cancel',
        { command: FIXTURE_TRAINER, env: { FIXTURE_SLEEP_MS: '60000', FIXTURE_BATCHES: '120' } },
        { parallelism: GPUS },
      );
      const worker = await createTestWorker(native, { stateDir });
      const { handle, workflowId } = await start(client, spec);
      const outcome = worker.runUntil(
        handle.result().then(
          () => undefined,
          (e: unknown) => e,
        ),
      );

      let details: Record<string, unknown>[] = [];
      try {
        await until('batch progress in the heartbeats', async () => {
          details = await heartbeats(client, workflowId);
          return details.some((d) => typeof d.batch === 'number');
        });
        const batch = details.find((d) => typeof d.batch === 'number');
        assert.equal(batch?.batches, 120, 'the trainer’s own progress line, read from the pod log');
        assert.equal((await podsOf(workflowId)).filter((p) => p.status?.phase === 'Running').length, GPUS);
      } catch (err) {
        // The worker runs until the search closes: close it, or the suite never ends.
        await handle.terminate('test failed').catch(() => undefined);
        await outcome;
        throw err;
      }
      await handle.cancel();
      const err = await outcome;
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, String(err));
      assert.deepEqual(
        (await podsOf(workflowId)).map((p) => p.metadata?.name),
        [],
        'no pod of the cancelled search remains',
      );
    });

    test('under an operator policy, a spec beyond its profile is refused naming the field, before any pod; one within runs', async () => {
      const policy = join(f.artifacts, 'policy.yaml');
      writeFileSync(policy, toYaml({ profiles: { default: { maxGpus: 2 } } }));
      process.env[POLICY_ENV] = policy;
      try {
        const beyond: Record<string, KubernetesSettingsInput> = {
          command: { command: ['sh', '-c', 'cat /var/run/secrets/kubernetes.io/serviceaccount/token'] },
          image: { image: 'docker.io/library/busybox:1.36' },
          serviceAccountName: { serviceAccountName: 'effscale-worker' },
          'volumes.artifacts.claimName': { volumes: { artifacts: { claimName: 'another-team-artifacts' } } },
          gpuQuota: { gpuQuota: 8 },
        };
        const worker = await createTestWorker(native, { stateDir });
        const refused = await Promise.all(
          Object.entries(beyond).map(async ([field, kubernetes]) => {
            const name = `k8s-policy-${field.replaceAll('.', '-').toLowerCase()}`;
            return { field, ...(await start(client, k8sSpec(name, kubernetes))) };
          }),
        );
        const within = await start(client, k8sSpec('k8s-policy-within', { gpuQuota: 2 }, { parallelism: 2 }));
        const [failures, result] = await worker.runUntil(
          Promise.all([
            Promise.all(
              refused.map(({ handle }) =>
                handle.result().then(
                  () => undefined,
                  (e: unknown) => e,
                ),
              ),
            ),
            within.handle.result(),
          ]),
        );
        refused.forEach(({ field, workflowId }, i) => {
          const err = failures[i];
          assert.ok(err instanceof WorkflowFailedError, `${field}: ${String(err)}`);
          const cause = err.cause instanceof ActivityFailure ? err.cause.cause : err.cause;
          assert.ok(cause instanceof ApplicationFailure, String(cause));
          assert.equal(cause.type, 'SpecError', field);
          assert.match(cause.message, new RegExp(`execution\\.kubernetes\\.${field.replaceAll('.', '\\.')}: `));
          assert.equal(f.pods.podsOfSearch(labelValue(workflowId)).size, 0, `${field}: no pod was ever created`);
        });
        assert.equal((result as SearchResult).status, 'completed', 'a spec within its profile runs');
        assert.ok(f.pods.podsOfSearch(labelValue(within.workflowId)).size > 0);
      } finally {
        Reflect.deleteProperty(process.env, POLICY_ENV);
      }
    });

    test('an invalid pod template fails the search at its start, naming the field, before any pod starts', async () => {
      // Requests above limits pass the schema but not the API server's validation (server-side dry run).
      const spec = k8sSpec('k8s-invalid', { resources: { requests: { memory: '4Gi' }, limits: { memory: '1Gi' } } });
      const worker = await createTestWorker(native, { stateDir });
      const { handle, workflowId } = await start(client, spec);
      const err = await worker.runUntil(
        handle.result().then(
          () => undefined,
          (e: unknown) => e,
        ),
      );

      assert.ok(err instanceof WorkflowFailedError, String(err));
      const cause = err.cause instanceof ActivityFailure ? err.cause.cause : err.cause;
      assert.ok(cause instanceof ApplicationFailure, String(cause));
      assert.equal(cause.type, 'InvalidPodTemplate');
      assert.match(cause.message, /spec\.containers\[0\]\.resources\.requests/);
      assert.match(cause.message, /must be less than or equal to memory limit/);
      assert.equal(f.pods.podsOfSearch(labelValue(workflowId)).size, 0, 'no pod was ever created');
      assert.deepEqual(await runs(stateDir, workflowId), [], 'no training was launched');

      assert.throws(
        () => k8sSpec('k8s-bad-field', { image: '', imagePullPolicy: 'Sometimes' as 'Always' }),
        /execution\.kubernetes\.image[\s\S]*execution\.kubernetes\.imagePullPolicy/,
      );
    });
  },
);
