import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { NATIVE_PACKAGES, nativePackage } from '../trainer/tf.js';

/**
 * CPUs this process may keep busy: the cores it may run on, bounded by its cgroup's CPU quota (a container's CPU
 * limit), which Node's availableParallelism() does not read. Without the bound a pod limited to 2 CPUs on a
 * 64-core node would start 64 server processes of 64 TensorFlow threads each. A fractional quota is rounded
 * down (at least 1): a process more than the quota buys throttling, not throughput.
 */
export function cpuBudget(root = '/sys/fs/cgroup'): number {
  const quota = cgroupV2Quota(root) ?? cgroupV1Quota(root);
  const cores = availableParallelism();
  return quota === undefined ? cores : Math.max(1, Math.min(cores, Math.floor(quota)));
}

/**
 * Server processes `effscale serve` starts unless told: one per CPU on TensorFlow's CPU build. One on the GPU
 * build: each process's TensorFlow reserves nearly all of the GPU's memory, and the GPU runs a batch's ops in
 * parallel by itself.
 */
export function defaultServerProcesses(env: NodeJS.ProcessEnv = process.env): number {
  return nativePackage(env) === NATIVE_PACKAGES.gpu ? 1 : Math.min(64, cpuBudget());
}

/** cgroup v2 `cpu.max`: "QUOTA PERIOD", or "max PERIOD" without a limit. */
function cgroupV2Quota(root: string): number | undefined {
  const [quota, period] = read(`${root}/cpu.max`)?.split(/\s+/) ?? [];
  return ratio(quota, period);
}

/** cgroup v1: `cpu.cfs_quota_us` (−1 without a limit) over `cpu.cfs_period_us`. */
function cgroupV1Quota(root: string): number | undefined {
  return ratio(read(`${root}/cpu/cpu.cfs_quota_us`), read(`${root}/cpu/cpu.cfs_period_us`));
}

function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 ? q / p : undefined;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}
