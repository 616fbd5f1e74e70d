import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

function effscale(...args: string[]) {
  const run = spawnSync(process.execPath, ['bin/effscale.js', ...args], { encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function json(...args: string[]) {
  const run = effscale(...args, '--json');
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

test('scale by explicit factors reproduces B2', () => {
  const out = json('scale', '--preset', 'efficientnet-b0', '--width', '1.1', '--depth', '1.2', '--resolution', '260');
  assert.equal(out.resolution, 260);
  assert.equal(out.params.trainable, 9_109_994);
  assert.equal(out.params.total, 9_177_562);
  assert.equal(out.paramBytes, 4 * 9_177_562);
  assert.equal(typeof out.macs, 'number');
  assert.ok(out.peakActivationBytes > 0);
  assert.deepEqual(
    out.stages.map((s: { repeats: number; filters: number }) => [s.repeats, s.filters]),
    [
      [2, 16],
      [3, 24],
      [3, 48],
      [4, 88],
      [4, 120],
      [5, 208],
      [2, 352],
    ],
  );
});

test('scale by the method: alpha, beta, gamma, phi, rule, classes', () => {
  const out = json(
    'scale',
    '--preset',
    'efficientnet-b0',
    '--alpha',
    '1.2',
    '--beta',
    '1.1',
    '--gamma',
    '1.15',
    '--phi',
    '2',
    '--rule',
    'exponential',
    '--classes',
    '10',
  );
  assert.equal(out.phi, 2);
  assert.equal(out.classes, 10);
  assert.ok(Math.abs(out.factors.depth - 1.44) < 1e-12);
  assert.equal(out.resolution, 296); // 224 · 1.15² = 296.24
  const linear = json(
    'scale',
    '--preset',
    'micro-28',
    '--alpha',
    '0.2',
    '--beta',
    '0.1',
    '--gamma',
    '0.1',
    '--phi',
    '1',
    '--rule',
    'linear',
  );
  assert.ok(Math.abs(linear.factors.depth - 1.2) < 1e-12);
});

test('grid lists candidates with coefficients, factors, costs, dedup group and exclusion reason', () => {
  const out = json(
    'grid',
    '--preset',
    'micro-28',
    '--phi',
    '1',
    '--step',
    '0.1',
    '--tolerance',
    '0.05',
    '--max-macs',
    '14M',
  );
  assert.ok(out.candidates.length > 5);
  assert.equal(out.candidateCount, out.candidates.length);
  for (const c of out.candidates) {
    assert.ok(Math.abs(c.costMultiplier - 2) <= 0.1 + 1e-9);
    assert.equal(typeof c.dedupGroup, 'number');
    assert.equal(typeof c.factors.width, 'number');
    if (c.macs > 14e6) assert.match(c.excluded, /maxMacs 14,000,000/);
    else assert.equal(c.excluded, undefined);
  }
  const empty = json('grid', '--preset', 'micro-28', '--step', '0.3', '--tolerance', '0.001');
  assert.equal(empty.candidates.length, 0);
  assert.match(empty.emptyReason, /tolerance/);
});

test('phi finds the largest phi under the targets and the binding limit', () => {
  const out = json(
    'phi',
    '--preset',
    'efficientnet-b0',
    '--alpha',
    '1.2',
    '--beta',
    '1.1',
    '--gamma',
    '1.15',
    '--max-macs',
    '4e9',
    '--max-param-bytes',
    '1G',
  );
  assert.equal(out.phi, 3);
  assert.equal(out.binding, 'maxMacs');
  assert.ok(out.macs <= 4e9);
});

test('inspect validates YAML (block strings) and JSON files and presets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effscale-inspect-'));
  const yamlFile = join(dir, 'arch.yaml');
  writeFileSync(yamlFile, 'preset: efficientnet-b0\nclasses: 1000\n');
  assert.equal(json('inspect', yamlFile).macs, 388_121_280);
  const jsonFile = join(dir, 'arch.json');
  writeFileSync(
    jsonFile,
    JSON.stringify({
      resolution: 28,
      inputChannels: 1,
      stem: { filters: 16, stride: 1 },
      stages: ['r1_k3_s11_e1_o16_se0.25', 'r2_k3_s22_e4_o24'],
      head: { filters: 64 },
      classes: 10,
    }),
  );
  const out = json('inspect', jsonFile);
  assert.equal(out.stages[1].repeats, 2);
  assert.ok(out.layers.length > 5);
  assert.equal(json('inspect', 'micro-28').params.total, 88_098);
  const table = effscale('inspect', 'efficientnet-b0');
  assert.equal(table.code, 0);
  assert.match(table.stdout, /multiply-adds\s+388,121,280/);
});

test('bad input: one clear message naming the field, exit code 2, no stack', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effscale-bad-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'preset: micro-28\nactivation: tanh\nstages: [r1_k3_s11_e1_o16, r1_k3_zz_o8]\n');
  const cases: [string[], RegExp][] = [
    [['inspect', bad], /stages\[1\]: .*unknown option 'zz'/],
    [['inspect', join(dir, 'missing.yaml')], /no such file, and not a preset/],
    [['scale', '--preset', 'b9', '--width', '2'], /unknown preset 'b9'; allowed presets: efficientnet-b0/],
    [['scale', '--preset', 'micro-28', '--width', 'wide'], /--width: expected a number/],
    [['scale', '--preset', 'micro-28', '--alpha', '1.2', '--phi', '1'], /missing --beta, --gamma/],
    [['grid', '--preset', 'micro-28', '--range', '0.5:2'], /alpha\.min: the exponential rule needs alpha >= 1/],
    [['grid', '--preset', 'micro-28', '--max-macs', 'lots'], /--max-macs: expected a positive amount/],
    [
      ['phi', '--preset', 'micro-28', '--alpha', '1.2', '--beta', '1.1', '--gamma', '1.15', '--max-macs', '1k'],
      /even phi=0/,
    ],
    [
      [
        'phi',
        '--preset',
        'micro-28',
        '--alpha',
        '1.2',
        '--beta',
        '1.1',
        '--gamma',
        '1.15',
        '--rule',
        'cubic',
        '--max-macs',
        '1G',
      ],
      /--rule/,
    ],
  ];
  for (const [args, pattern] of cases) {
    const run = effscale(...args);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, pattern, args.join(' '));
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('every scaling command has --help', () => {
  for (const command of ['scale', 'grid', 'phi', 'inspect']) {
    const run = effscale(command, '--help');
    assert.equal(run.code, 0);
    assert.match(run.stdout, new RegExp(`Usage: effscale ${command}`));
  }
});
