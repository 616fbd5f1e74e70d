import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpuBudget, defaultServerProcesses } from '../../serve/cpus.js';
import { tfThreadEnv } from '../../serve/run.js';

/** A cgroup filesystem root holding `files` (paths relative to it). */
async function cgroupRoot(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'effscale-cgroup-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), `${text}\n`);
  }
  return root;
}

test("the CPU budget is the cores, bounded by a cgroup v2 or v1 CPU quota (a container's limit)", async () => {
  const cores = availableParallelism();
  const cases: [Record<string, string>, number][] = [
    [{}, cores],
    [{ 'cpu.max': 'max 100000' }, cores],
    [{ 'cpu.max': '100000 100000' }, 1],
    [{ 'cpu.max': '50000 100000' }, 1],
    [{ 'cpu.max': '150000 100000' }, 1],
    [{ 'cpu.max': '250000 100000' }, Math.min(cores, 2)],
    [{ 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000' }, cores],
    [{ 'cpu/cpu.cfs_quota_us': '100000', 'cpu/cpu.cfs_period_us': '100000' }, 1],
  ];
  for (const [files, expected] of cases) {
    const root = await cgroupRoot(files);
    try {
      assert.equal(cpuBudget(root), expected, JSON.stringify(files));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }
});

test("each server process's TensorFlow gets its share of the CPUs, at least one, unless the operator set it", () => {
  const cpus = cpuBudget();
  const saved = process.env.TF_NUM_INTRAOP_THREADS;
  delete process.env.TF_NUM_INTRAOP_THREADS;
  try {
    assert.equal(tfThreadEnv(1).TF_NUM_INTRAOP_THREADS, String(cpus));
    assert.equal(tfThreadEnv(2).TF_NUM_INTRAOP_THREADS, String(Math.max(1, Math.floor(cpus / 2))));
    assert.equal(tfThreadEnv(cpus + 1).TF_NUM_INTRAOP_THREADS, '1');
    process.env.TF_NUM_INTRAOP_THREADS = '3';
    assert.equal(tfThreadEnv(1).TF_NUM_INTRAOP_THREADS, '3');
  } finally {
    if (saved === undefined) delete process.env.TF_NUM_INTRAOP_THREADS;
    else process.env.TF_NUM_INTRAOP_THREADS = saved;
  }
});

test('serve starts one process per CPU on the CPU build, one on the GPU build (its session takes the GPU)', () => {
  assert.equal(defaultServerProcesses({}), Math.min(64, cpuBudget()));
  assert.equal(defaultServerProcesses({ EFFSCALE_TFJS: 'cpu' }), Math.min(64, cpuBudget()));
  assert.equal(defaultServerProcesses({ EFFSCALE_TFJS: 'gpu' }), 1);
  assert.throws(() => defaultServerProcesses({ EFFSCALE_TFJS: 'tpu' }), /EFFSCALE_TFJS must be cpu or gpu/);
});
