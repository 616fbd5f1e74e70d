import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { processAlive } from '../../executors/process.js';
import { readRuns, type RunRecord } from '../../store/search-dir.js';
import { loadSearchSpec, workflowIdFor } from '../../client/search.js';
import { retrainedAfterFinish } from '../integration/pipeline/harness.js';

/**
 * Interrupting a search on one machine, as a user does it, through the CLI with real training: Ctrl-C, SIGKILL,
 * another search in the same state directory, extending a finished search, and bad input. Sessions run in their
 * own process group, like a terminal's foreground job, so a Ctrl-C reaches every process of that group.
 */

const cli = fileURLToPath(new URL('../../../bin/effscale.js', import.meta.url));
const quick = fileURLToPath(new URL('../../../examples/quick.yaml', import.meta.url));

interface Session {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function session(stateDir: string, ...args: string[]): Session {
  const child = spawn(process.execPath, [cli, ...args, '--state-dir', stateDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

async function effscale(
  stateDir: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args, '--state-dir', stateDir],
      { maxBuffer: 16 << 20 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, seconds = 240): Promise<void> {
  for (let i = 0; i < seconds * 4; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The quick example with a smaller subset and no final retraining: five real trainings of a few seconds each. */
interface SpecDoc {
  name: string;
  baseline: unknown;
  task: Record<string, unknown>;
  scaling: { grid: Record<string, unknown> };
  execution: Record<string, unknown>;
  final: unknown;
}

async function specFile(dir: string, name: string, edit: (spec: SpecDoc) => void = () => {}) {
  const spec = parse(await readFile(quick, 'utf8')) as SpecDoc;
  spec.name = name;
  spec.task = { ...spec.task, trainLimit: 1000, valLimit: 256 };
  spec.final = { finalists: 0 };
  edit(spec);
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, JSON.stringify(spec));
  return { file, id: workflowIdFor(await loadSearchSpec(file)) };
}

const runsOf = (stateDir: string, id: string): Promise<RunRecord[]> => readRuns(join(stateDir, 'searches', id));

/** Once a training has finished and two more are running: the middle of the search. */
const midSearch = (stateDir: string, id: string) => async () => {
  const records = await runsOf(stateDir, id);
  const finished = records.filter((r) => r.event === 'finish').length;
  return finished >= 1 && records.filter((r) => r.event === 'launch').length >= finished + 2;
};

function trainerPids(records: RunRecord[]): number[] {
  return records.flatMap((r) => (r.event === 'launch' && r.pid ? [r.pid] : []));
}

async function devServerPid(stateDir: string): Promise<number | undefined> {
  const record = await readFile(join(stateDir, 'temporal.json'), 'utf8').catch(() => undefined);
  return record ? (JSON.parse(record) as { pid: number }).pid : undefined;
}

async function bestOf(stateDir: string, id: string) {
  const { code, stdout, stderr } = await effscale(stateDir, 'result', id, '--json');
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout) as { status: string; best: { alpha: number; beta: number; gamma: number; score: number } };
}

describe('interrupted searches on one machine', { concurrency: false }, () => {
  test('Ctrl-C stops the session promptly, leaves nothing running, and a re-run finishes without retraining', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'effscale-ctrlc-'));
    const stateDir = join(dir, 'state');
    const { file, id } = await specFile(dir, 'ctrlc');
    const first = session(stateDir, 'search', file);
    await waitFor('the middle of the search', midSearch(stateDir, id));
    // The progress lines (every 10 s) must have shown a training's batches: a slow start must not skip them.
    const trainingLine = /g[0-9a-f]{12} epoch 1\/1 batch \d+\/\d+ loss \d/;
    await waitFor('a training progress line', () => Promise.resolve(trainingLine.test(first.stderr())));
    const server = await devServerPid(stateDir);
    const interruptedAt = Date.now();
    process.kill(-(first.child.pid as number), 'SIGINT'); // a terminal's Ctrl-C: the whole foreground group
    assert.equal(await first.exited, 130);
    const seconds = (Date.now() - interruptedAt) / 1000;
    assert.ok(seconds < 30, `exited ${seconds} s after Ctrl-C`);
    const err = first.stderr();
    assert.match(err, /interrupted; finished trainings are kept\. Continue it with: effscale search /);
    assert.doesNotMatch(err, /\n\s+at |Error:/, 'no stack trace for an expected event');
    assert.match(err, trainingLine, 'progress inside the running trainings');
    for (const pid of [...trainerPids(await runsOf(stateDir, id)), server ?? 0])
      assert.equal(processAlive(pid), false, `process ${pid} left running`);

    const again = await effscale(stateDir, 'search', file);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(retrainedAfterFinish(await runsOf(stateDir, id)), []);
    assert.equal((await bestOf(stateDir, id)).status, 'completed');

    // A finished search extended on this machine runs the extension here, like `search`.
    const extended = await effscale(stateDir, 'extend', id, '--phi', '3', '--json');
    assert.equal(extended.code, 0, extended.stderr);
    assert.deepEqual(
      (JSON.parse(extended.stdout) as { family: { phi: number }[] }).family.map((m) => m.phi),
      [1, 2, 3],
    );
  });

  test('SIGKILL of a session: the re-run does not wait for the dead attempts, and nothing of either session is left', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'effscale-kill-'));
    const stateDir = join(dir, 'state');
    // A heartbeat timeout far beyond the test's patience: a re-run that waited for it would time out.
    const { file, id } = await specFile(dir, 'killed', (s) => (s.execution.heartbeatTimeout = '30m'));
    const first = session(stateDir, 'search', file);
    await waitFor('the middle of the search', midSearch(stateDir, id));
    const server = await devServerPid(stateDir);
    first.child.kill('SIGKILL');
    await first.exited;
    const orphans = trainerPids(await runsOf(stateDir, id));
    await waitFor('the killed session’s trainers to stop', async () => orphans.every((p) => !processAlive(p)), 30);

    const started = Date.now();
    const again = await effscale(stateDir, 'search', file);
    assert.equal(again.code, 0, again.stderr);
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 240, `the re-run took ${seconds} s`);
    const records = await runsOf(stateDir, id);
    assert.deepEqual(retrainedAfterFinish(records), []);
    for (const pid of [...trainerPids(records), server ?? 0])
      assert.equal(processAlive(pid), false, `process ${pid} left running`);
    assert.equal(existsSync(join(stateDir, 'temporal.json')), false, 'the adopted dev server was stopped');
  });

  test('another search after an interruption never trains the first one’s candidates', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'effscale-two-'));
    const stateDir = join(dir, 'state');
    const a = await specFile(dir, 'first');
    const b = await specFile(dir, 'second', (s) => (s.scaling.grid.alpha = { min: 1, max: 1, step: 0.1 }));
    const first = session(stateDir, 'search', a.file);
    await waitFor('the middle of the first search', midSearch(stateDir, a.id));
    first.child.kill('SIGKILL');
    await first.exited;
    const before = (await runsOf(stateDir, a.id)).length;

    const second = await effscale(stateDir, 'search', b.file);
    assert.equal(second.code, 0, second.stderr);
    assert.equal((await runsOf(stateDir, a.id)).length, before, 'the second session launched none of the first’s');

    assert.equal((await effscale(stateDir, 'search', a.file)).code, 0);
    const resumed = await bestOf(stateDir, a.id);
    const cleanDir = join(dir, 'clean');
    assert.equal((await effscale(cleanDir, 'search', a.file)).code, 0);
    assert.deepEqual(resumed.best, (await bestOf(cleanDir, a.id)).best, 'the winner of a clean run');
  });

  test('without a worker, `result` says so and gives up instead of hanging', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'effscale-noworker-'));
    const stateDir = join(dir, 'state');
    const { file, id } = await specFile(dir, 'detached');
    const inspected = await promisify(execFile)(process.execPath, [cli, 'inspect', file]);
    assert.match(inspected.stdout, /is a search spec\.\n.*dry run.*\n8 grid points, 5 distinct trainings/);
    assert.equal((await effscale(stateDir, 'search', file, '--detach')).code, 0);
    const result = await effscale(stateDir, 'result', id, '--wait-worker', '2');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /running but no worker serves it: start one with `effscale dev`/);
    assert.match(result.stderr, /no worker came within 2 s/);
  });

  test('a dataset whose class folders do not match the baseline is rejected before any trainer starts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'effscale-classes-'));
    const data = join(dir, 'images');
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]);
    for (let c = 0; c < 10; c++) {
      await mkdir(join(data, `class${c}`), { recursive: true });
      await writeFile(join(data, `class${c}`, 'a.png'), png);
    }
    const { file, id } = await specFile(dir, 'classes', (s) => {
      s.baseline = { preset: 'micro-28', classes: 5 };
      s.task.dataset = { format: 'image-folder', path: data };
    });
    const stateDir = join(dir, 'state');
    const dry = await effscale(stateDir, 'search', file, '--dry-run');
    assert.equal(dry.code, 2);
    assert.match(dry.stderr, /task\.dataset .* has 10 class folders .* but architecture\.classes is 5/);
    const run = await effscale(stateDir, 'search', file);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /failed: task\.dataset .* has 10 class folders/);
    assert.deepEqual(await runsOf(stateDir, id), [], 'no trainer was launched');
  });
});
