import { fileURLToPath, pathToFileURL } from 'node:url';
import { posix, relative, isAbsolute } from 'node:path';
import type { V1Pod, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { GPU_RESOURCE, type ClaimVolume, type KubernetesExecution } from '../../schemas/kubernetes.js';
import type { CandidateSpec } from '../../schemas/candidate.js';
import { trainerArgv } from '../../schemas/trainer-process.js';
import { isImageFiles } from '../../schemas/task.js';
import type { TrainingJob } from '../executor.js';
import { LABEL, MANAGED_BY, annotationKey, labelValue } from './names.js';

export const CONTAINER = 'trainer';
export const TERMINATION_LOG = '/dev/termination-log';

/** Where the worker sees a volume (it writes specs and reads results there). */
export const localRoot = (volume: ClaimVolume) => volume.localPath ?? volume.mountPath;

/** A worker-side path on a shared volume → the same file as the trainer pod sees it (undefined if outside). */
export function toPodPath(volume: ClaimVolume, localPath: string): string | undefined {
  const rel = relative(localRoot(volume), localPath);
  if (rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return posix.join(volume.mountPath, ...rel.split(/[\\/]/).filter(Boolean));
}

/**
 * The candidate spec as the pod must read it: every dataset path (folder, validation folder, manifest roots) where
 * the datasets volume is mounted in the pod, and the dataset index — written by the plan step into the search's
 * directory — where the artifacts volume is. Paths outside the volumes stay as they are (an image that bakes them).
 */
export function candidateOnPod(spec: CandidateSpec, volumes: KubernetesExecution['volumes']): CandidateSpec {
  const onPod = (volume: ClaimVolume | undefined, path: string) => (volume && toPodPath(volume, path)) ?? path;
  const copy = structuredClone(spec);
  const data = copy.task.dataset;
  data.path = onPod(volumes.dataset, data.path);
  if (!isImageFiles(data)) return copy;
  if (data.valPath) data.valPath = onPod(volumes.dataset, data.valPath);
  if (data.format === 'manifest') {
    if (data.root) data.root = onPod(volumes.dataset, data.root);
    if (data.valRoot) data.valRoot = onPod(volumes.dataset, data.valRoot);
  }
  if (data.index) data.index = onPod(volumes.artifacts, data.index);
  return copy;
}

/** A pod-side path → the worker-side path (results name the model by the path the trainer wrote it to). */
export function toLocalPath(volume: ClaimVolume, podPath: string): string {
  // The trainer reports its model as a file:// URI (tfjs' save handler): map it, and keep the form.
  if (podPath.startsWith('file://')) return pathToFileURL(toLocalPath(volume, fileURLToPath(podPath))).href;
  const rel = posix.relative(volume.mountPath, podPath);
  if (rel.startsWith('..') || posix.isAbsolute(rel)) return podPath;
  return posix.join(localRoot(volume), rel);
}

export interface PodPaths {
  spec: string;
  out: string;
}

/** The trainer pod of one candidate attempt: restartPolicy Never (Temporal retries), non-root, no API token. */
export function buildPod(name: string, job: TrainingJob, execution: KubernetesExecution, paths: PodPaths): V1Pod {
  const { artifacts, dataset } = execution.volumes;
  const volumes: V1Volume[] = [
    { name: 'artifacts', persistentVolumeClaim: { claimName: artifacts.claimName } },
    // The dataset cache (inflated IDX files) and nothing else: bounded, so a runaway trainer cannot fill the node.
    { name: 'tmp', emptyDir: { sizeLimit: execution.tmpSizeLimit } },
  ];
  const mounts: V1VolumeMount[] = [...artifactMounts(artifacts, paths.out), { name: 'tmp', mountPath: '/tmp' }];
  if (dataset) {
    volumes.push({
      name: 'dataset',
      persistentVolumeClaim: { claimName: dataset.claimName, readOnly: dataset.readOnly },
    });
    mounts.push({
      name: 'dataset',
      mountPath: dataset.mountPath,
      subPath: dataset.subPath,
      readOnly: dataset.readOnly,
    });
  }
  const limits = execution.resources.limits;
  // Extended resources such as GPUs must be requested exactly as limited.
  const requests = { ...execution.resources.requests };
  if (limits[GPU_RESOURCE] !== undefined) requests[GPU_RESOURCE] = limits[GPU_RESOURCE];
  const annotations: Record<string, string> = {
    'effscale.dev/search-id': job.searchId,
    'effscale.dev/candidate-id': job.candidateId,
  };
  for (const [key, value] of Object.entries(job.labels)) annotations[annotationKey(key)] = value;
  const args = trainerArgv({
    spec: paths.spec,
    out: paths.out,
    'termination-log': TERMINATION_LOG,
    progress: 'jsonl',
    noop: execution.noop,
    'checkpoint-seconds': job.checkpointSeconds,
  });

  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: execution.namespace,
      labels: {
        [LABEL.name]: 'effscale',
        [LABEL.instance]: labelValue(job.searchId),
        [LABEL.component]: 'trainer',
        [LABEL.managedBy]: MANAGED_BY,
        [LABEL.search]: labelValue(job.searchId),
        [LABEL.candidate]: labelValue(job.candidateId),
      },
      annotations,
    },
    spec: {
      restartPolicy: 'Never',
      serviceAccountName: execution.serviceAccountName,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      priorityClassName: execution.priorityClassName,
      nodeSelector: Object.keys(execution.nodeSelector).length ? execution.nodeSelector : undefined,
      tolerations: [...execution.tolerations, ...nodeLossTolerations(execution.nodeLoss.tolerationSeconds)],
      imagePullSecrets: execution.imagePullSecrets.map((secret) => ({ name: secret })),
      activeDeadlineSeconds: execution.activeDeadlineSeconds,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: execution.runAsUser,
        runAsGroup: execution.runAsUser,
        fsGroup: execution.fsGroup,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      volumes,
      containers: [
        {
          name: CONTAINER,
          image: execution.image,
          imagePullPolicy: execution.imagePullPolicy,
          command: execution.command,
          args,
          env: Object.entries(execution.env).map(([envName, value]) => ({ name: envName, value })),
          resources: { requests, limits },
          volumeMounts: mounts,
          terminationMessagePath: TERMINATION_LOG,
          terminationMessagePolicy: 'FallbackToLogsOnError',
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
          },
        },
      ],
    },
  };
}

/**
 * A trainer writes its own candidate's directory and nothing else on the artifacts volume: the volume is mounted
 * read-only (the search's dataset index, an earlier rung's checkpoint are read), and the candidate's directory is
 * mounted again over it, writable, through its subPath. A trainer cannot rewrite another candidate's result or the
 * registry, whatever it runs.
 */
function artifactMounts(artifacts: ClaimVolume, out: string): V1VolumeMount[] {
  const whole = { name: 'artifacts', mountPath: artifacts.mountPath, subPath: artifacts.subPath };
  const rel = posix.relative(artifacts.mountPath, out);
  if (!rel || rel.startsWith('..') || posix.isAbsolute(rel)) return [{ ...whole, readOnly: artifacts.readOnly }];
  const own = { name: 'artifacts', mountPath: out, subPath: posix.join(artifacts.subPath ?? '', rel) };
  return [
    { ...whole, readOnly: true },
    { ...own, readOnly: artifacts.readOnly },
  ];
}

/**
 * Kubernetes tolerates a not-ready or unreachable node for 300 s by default before it evicts the pods; a trainer's
 * GPU-hours are better spent elsewhere sooner (NodeLossPolicy).
 */
function nodeLossTolerations(tolerationSeconds: number) {
  return ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'].map((key) => ({
    key,
    operator: 'Exists',
    effect: 'NoExecute',
    tolerationSeconds,
  }));
}
