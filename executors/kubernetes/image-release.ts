import { CANDIDATE_CONTRACT } from '../../schemas/candidate.js';
import { packageVersion } from '../../schemas/release.js';

/**
 * Trainer images are tagged with the effscale release they were built from (k8s/, infra/Dockerfile.trainer). An
 * image of an earlier release than its worker cannot read the candidates the worker writes: refused before any pod
 * starts. A tag that is not a release (a digest, `latest`, a test build) is the operator's word.
 */
export function trainerImageTooOld(image: string, worker = packageVersion): string | undefined {
  const release = imageRelease(image);
  if (release === undefined || compareReleases(release, worker) >= 0) return undefined;
  return (
    `execution.kubernetes.image: ${image} is effscale ${release}, older than this worker (${worker}): its trainer ` +
    `cannot read this release's candidates (contract ${CANDIDATE_CONTRACT}); use the trainer image of release ${worker}`
  );
}

/** The release an image's tag names (`…/trainer:0.1.0` → 0.1.0; `host:5000/trainer@sha256:…` → none). */
export function imageRelease(image: string): string | undefined {
  const tag = /:([^:/@]+)(@.*)?$/.exec(image)?.[1];
  return tag !== undefined && /^\d+\.\d+\.\d+$/.test(tag) ? tag : undefined;
}

function compareReleases(a: string, b: string): number {
  const [x, y] = [a, b].map((r) => r.split('.').map(Number));
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}
