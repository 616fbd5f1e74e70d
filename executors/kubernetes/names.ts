import { createHash } from 'node:crypto';

/**
 * Deterministic pod names and label values from the search and candidate ids: a retried activity, or a new worker
 * after a crash, computes the same names and finds the pod instead of creating a second one.
 */

const MAX_NAME = 63;
/** Room for the `-r<attempt>` suffix of pods created after a failed attempt. */
const ATTEMPT_ROOM = 4;
const HASH_LENGTH = 10;

const hash = (...parts: string[]) => createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, HASH_LENGTH);

function sanitize(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
}

/** `<search>-<candidate>` as a DNS-1123 label; a hash suffix keeps it unique when it had to be cut or rewritten. */
export function podBaseName(searchId: string, candidateId: string): string {
  const raw = `${searchId}-${candidateId}`;
  const clean = sanitize(raw);
  const limit = MAX_NAME - ATTEMPT_ROOM;
  if (clean === raw && clean.length <= limit && /^[a-z]/.test(clean)) return clean;
  const head = sanitize(`c-${clean}`.slice(0, limit - HASH_LENGTH - 1));
  return `${head}-${hash(searchId, candidateId)}`;
}

/** The pod of attempt `n` (0 = first): earlier failed pods stay, for debugging, until the cleanup policy runs. */
export function podName(base: string, attempt: number): string {
  return attempt === 0 ? base : `${base}-r${attempt}`;
}

/** A label value (≤ 63 characters, alphanumeric at both ends); ids that do not fit keep uniqueness by hash. */
export function labelValue(value: string): string {
  if (/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(value) && value.length <= MAX_NAME) return value;
  const head = value.replace(/[^-A-Za-z0-9_.]+/g, '-').slice(0, MAX_NAME - HASH_LENGTH - 1);
  return `${head.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '') || 'x'}-${hash(value)}`;
}

export const LABEL = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  search: 'effscale.dev/search',
  candidate: 'effscale.dev/candidate',
} as const;

export const MANAGED_BY = 'effscale-executor';

/** Selects every trainer pod the executor manages in a namespace (GPU quota, cleanup). */
export const MANAGED_SELECTOR = `${LABEL.managedBy}=${MANAGED_BY},${LABEL.component}=trainer`;

export function candidateSelector(searchId: string, candidateId: string): string {
  return `${MANAGED_SELECTOR},${LABEL.search}=${labelValue(searchId)},${LABEL.candidate}=${labelValue(candidateId)}`;
}

/** Annotation key for a job label (workflow id, alpha, beta, gamma...). */
export function annotationKey(key: string): string {
  return `effscale.dev/${sanitize(key).slice(0, MAX_NAME) || 'label'}`;
}
