import { TRAINER_EXIT } from '../../schemas/trainer-process.js';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { KubernetesExecution } from '../../schemas/kubernetes.js';
import { CONTAINER } from './pod.js';

/**
 * Reads a trainer pod's status the way the executor acts on it. Every failure has a `type` (the Temporal
 * ApplicationFailure type) and says whether a retry can help; docs/kubernetes.md lists them.
 */

export type FailureType =
  | 'TrainerFailed'
  | 'BadCandidateInput'
  | 'TrainerTooOld'
  | 'StorageFailed'
  | 'OOMKilled'
  | 'EphemeralStorageExceeded'
  | 'ImagePullFailed'
  | 'ContainerConfigError'
  | 'Unschedulable'
  | 'DeadlineExceeded'
  | 'PodDeleted'
  | 'NodeLost'
  | 'InvalidPodTemplate'
  | 'Forbidden'
  | 'BadResult';

export const RETRYABLE: Record<FailureType, boolean> = {
  TrainerFailed: true,
  BadCandidateInput: false,
  TrainerTooOld: false,
  StorageFailed: true,
  OOMKilled: false,
  EphemeralStorageExceeded: false,
  ImagePullFailed: false,
  ContainerConfigError: false,
  Unschedulable: false,
  DeadlineExceeded: false,
  PodDeleted: true,
  NodeLost: true,
  InvalidPodTemplate: false,
  Forbidden: false,
  BadResult: false,
};

/** Failures that are not the training's: node loss, preemption, eviction, a pod deleted by someone else, storage. */
export const DISRUPTIONS: ReadonlySet<FailureType> = new Set(['NodeLost', 'PodDeleted', 'StorageFailed']);

export interface PodFailure {
  type: FailureType;
  message: string;
  exitCode?: number;
}

export type PodState =
  | { kind: 'waiting'; since: number; why: string }
  | { kind: 'running' }
  | { kind: 'succeeded'; message?: string }
  | { kind: 'failed'; failure: PodFailure };

const IMAGE_PULL = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);
const CONFIG_ERROR = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

const time = (value: Date | string | undefined) => (value ? new Date(value).getTime() : Date.now());

function trainerStatus(pod: V1Pod): V1ContainerStatus | undefined {
  return pod.status?.containerStatuses?.find((s) => s.name === CONTAINER);
}

/**
 * The kubelet evicts a pod that outgrows its own storage limits (an emptyDir's sizeLimit, a container's
 * ephemeral-storage limit) with reason Evicted, as it does for a node short of space: only the message tells the
 * trainer's own doing from the node's.
 */
const OWN_STORAGE_EVICTION = [
  /Usage of EmptyDir volume .* exceeds the limit/,
  /exceeded its local ephemeral storage limit/,
  /ephemeral local storage usage exceeds the total limit of containers/,
];

function ownStorageEviction(pod: V1Pod): string | undefined {
  const message = pod.status?.message ?? '';
  if (pod.status?.reason !== 'Evicted' || !OWN_STORAGE_EVICTION.some((own) => own.test(message))) return undefined;
  return `${message.trim()} The trainer outgrew its own disk: raise execution.kubernetes.tmpSizeLimit.`;
}

/** Node loss, taint eviction and preemption: the training did nothing wrong, another node may run it. */
function disruption(pod: V1Pod): string | undefined {
  if (ownStorageEviction(pod)) return undefined;
  const reason = pod.status?.reason;
  if (reason === 'NodeLost' || reason === 'Evicted' || reason === 'Preempting' || reason === 'Terminated') {
    return `${reason}: ${pod.status?.message ?? ''}`.trim();
  }
  const condition = pod.status?.conditions?.find((c) => c.type === 'DisruptionTarget' && c.status === 'True');
  return condition ? `${condition.reason ?? 'DisruptionTarget'}: ${condition.message ?? ''}`.trim() : undefined;
}

function terminatedFailure(status: V1ContainerStatus | undefined, pod: V1Pod): PodFailure {
  const terminated = status?.state?.terminated ?? status?.lastState?.terminated;
  const outgrown = ownStorageEviction(pod);
  if (outgrown) return { type: 'EphemeralStorageExceeded', exitCode: terminated?.exitCode, message: outgrown };
  const lost = disruption(pod);
  if (pod.status?.reason === 'DeadlineExceeded') {
    return { type: 'DeadlineExceeded', message: pod.status.message ?? 'activeDeadlineSeconds exceeded' };
  }
  if (!terminated) {
    return { type: lost ? 'NodeLost' : 'TrainerFailed', message: lost ?? pod.status?.message ?? 'pod failed' };
  }
  const exitCode = terminated.exitCode;
  const tail = (terminated.message ?? '').trim().split('\n').slice(-5).join('\n');
  if (terminated.reason === 'OOMKilled') {
    return { type: 'OOMKilled', exitCode, message: 'the trainer exceeded its memory limit (resources.limits.memory)' };
  }
  if (lost) return { type: 'NodeLost', exitCode, message: lost };
  if (exitCode === TRAINER_EXIT.badInput) return { type: 'BadCandidateInput', exitCode, message: tail || 'bad input' };
  if (exitCode === TRAINER_EXIT.storage)
    return { type: 'StorageFailed', exitCode, message: tail || 'the storage failed' };
  if (exitCode === TRAINER_EXIT.newerContract)
    return { type: 'TrainerTooOld', exitCode, message: tail || 'the trainer image is older than the worker' };
  return {
    type: 'TrainerFailed',
    exitCode,
    message: `exit code ${exitCode}${terminated.reason ? ` (${terminated.reason})` : ''}${tail ? `: ${tail}` : ''}`,
  };
}

/** `now` lets the timeouts be judged against the pod's own timestamps. */
export function podState(pod: V1Pod, execution: KubernetesExecution, now = Date.now()): PodState {
  const status = trainerStatus(pod);
  // A pod someone else deletes is stopped gracefully by its kubelet: its exit code says nothing of the training.
  if (pod.metadata?.deletionTimestamp && pod.status?.phase !== 'Succeeded') {
    const lost = disruption(pod);
    const message = lost ?? `pod ${pod.metadata.name} was deleted before it finished`;
    return { kind: 'failed', failure: { type: lost ? 'NodeLost' : 'PodDeleted', message } };
  }
  switch (pod.status?.phase) {
    case 'Succeeded':
      return { kind: 'succeeded', message: status?.state?.terminated?.message };
    case 'Failed':
      return { kind: 'failed', failure: terminatedFailure(status, pod) };
    case 'Running':
      return { kind: 'running' };
    default:
      // Pending (or a phase not reported yet): the waiting reasons below tell why.
      break;
  }
  const created = time(pod.metadata?.creationTimestamp);
  const waiting = status?.state?.waiting;
  if (waiting?.reason && (IMAGE_PULL.has(waiting.reason) || CONFIG_ERROR.has(waiting.reason))) {
    const type = IMAGE_PULL.has(waiting.reason) ? 'ImagePullFailed' : 'ContainerConfigError';
    const message = `${waiting.reason}: ${waiting.message ?? execution.image}`;
    const hopeless = waiting.reason === 'InvalidImageName' || waiting.reason === 'ErrImageNeverPull';
    if (hopeless || now - created > execution.imagePullTimeoutSeconds * 1000) {
      return { kind: 'failed', failure: { type, message } };
    }
    return { kind: 'waiting', since: created, why: message };
  }
  if (!pod.spec?.nodeName) {
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    const why = scheduled?.status === 'False' ? `${scheduled.reason}: ${scheduled.message ?? ''}` : 'not scheduled yet';
    if (now - created > execution.unschedulableTimeoutSeconds * 1000) {
      const message = `not scheduled after ${execution.unschedulableTimeoutSeconds} s (${why.trim()})`;
      return { kind: 'failed', failure: { type: 'Unschedulable', message } };
    }
    return { kind: 'waiting', since: created, why };
  }
  return { kind: 'waiting', since: created, why: waiting?.reason ?? 'starting' };
}

/**
 * A running trainer pod on a node the cluster lost: the node lifecycle controller marks its pods not ready once the
 * node stops reporting, and the trainer (whose log stream died with it) has said nothing for `silentSeconds`.
 */
export function lostNode(
  pod: V1Pod,
  execution: KubernetesExecution,
  silentSince: number,
  now = Date.now(),
): string | undefined {
  if (pod.status?.phase !== 'Running') return undefined;
  const ready = pod.status.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'False') return undefined;
  const silent = (now - Math.max(silentSince, time(ready.lastTransitionTime))) / 1000;
  if (silent < execution.nodeLoss.silentSeconds) return undefined;
  return (
    `node ${pod.spec?.nodeName ?? '?'} lost: the pod is not ready and its trainer has been silent for ` +
    `${Math.round(silent)} s`
  );
}

export function isActive(pod: V1Pod): boolean {
  return pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
}
