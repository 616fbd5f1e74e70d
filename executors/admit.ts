import type { SearchSpec } from '../schemas/search.js';
import { kubernetesExecutionFor } from './kubernetes/defaults.js';
import { admitLocal, admitPaths, loadPolicy } from './policy.js';

/**
 * Everything the operator policy (EFFSCALE_POLICY) says of a spec, checked where a client's spec enters the
 * worker's store (a new search's plan, a resume): refused there, with every field named, before any training.
 */
export function admitSpec(spec: SearchSpec, policy = loadPolicy()): void {
  if (!policy) return;
  if (spec.execution.executor === 'local') admitLocal(spec.execution, policy);
  else kubernetesExecutionFor(spec.execution, policy);
  admitPaths(spec, policy);
}
