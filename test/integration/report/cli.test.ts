import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { registeredMicro28 } from '../serve/fixture.js';
import { searchDirFixture } from './fixture.js';

const run = promisify(execFile);
const BIN = join(process.cwd(), 'bin', 'effscale.js');

async function effscale(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('effscale report / export / serve (CLI)', () => {
  let stateDir: string;

  before(async () => {
    const { root } = await registeredMicro28();
    stateDir = root;
    const uri = join(root, 'registry', 'micro', 'v1');
    await searchDirFixture(stateDir, [{ name: 'micro', version: 'v1', uri, member: 'phi2' }]);
  });
  after(() => rm(stateDir, { recursive: true, force: true }));

  it('report ID writes the HTML; an unknown ID is a clear usage error', async () => {
    const out = join(stateDir, 'out', 'report.html');
    const ok = await effscale('report', 'effscale-fixture-0123456789', '--out', out, '--state-dir', stateDir);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(await readFile(out, 'utf8'), /pareto_candidate_marks/);
    const byName = await effscale('report', 'fixture', '--out', out, '--state-dir', stateDir);
    assert.equal(byName.code, 0, byName.stderr);
    const missing = await effscale('report', 'nope', '--out', out, '--state-dir', stateDir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /effscale: no search nope under .*searches \(have effscale-fixture-0123456789\)/);
  });

  it('export --format json gives layers, connectivity, shapes and costs; --format tfjs copies the model', async () => {
    const model = await effscale('export', 'micro@v1', '--format', 'json', '--state-dir', stateDir);
    assert.equal(model.code, 0, model.stderr);
    const doc = JSON.parse(model.stdout) as {
      cost: {
        layers: { name: string; op: string; inputs: string[]; outputShape: number[]; macs: number }[];
        macs: number;
      };
    };
    assert.ok(doc.cost.layers.length > 10);
    const layer = doc.cost.layers.at(-1);
    assert.ok(layer && layer.op === 'dense' && layer.inputs.length === 1 && layer.outputShape.length === 3);
    assert.equal(
      doc.cost.layers.reduce((n, l) => n + l.macs, 0),
      doc.cost.macs,
    );
    const search = await effscale('export', 'fixture', '--format', 'json', '--state-dir', stateDir);
    assert.equal(search.code, 0, search.stderr);
    const family = (
      JSON.parse(search.stdout) as {
        family: { member: string; architecture: { resolution: number }; cost: { layers: unknown[] } }[];
      }
    ).family;
    assert.deepEqual(
      family.map((m) => m.member),
      ['phi1', 'phi2'],
    );
    assert.ok(family.every((m) => m.architecture.resolution >= 28 && m.cost.layers.length > 10));
    const out = join(stateDir, 'exported');
    const tfjs = await effscale('export', 'fixture', '--format', 'tfjs', '--out', out, '--state-dir', stateDir);
    assert.equal(tfjs.code, 0, tfjs.stderr);
    const files = await readdir(out);
    assert.ok(files.includes('model.json') && files.some((f) => f.endsWith('.bin')), files.join(','));
    const bad = await effscale('export', 'micro', '--format', 'onnx', '--state-dir', stateDir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /export --format.*(json|tfjs)/s);
  });

  it('serve answers predictions and stops gracefully on SIGTERM', async () => {
    const child = spawn(process.execPath, [
      BIN,
      'serve',
      '--model',
      'micro',
      '--port',
      '0',
      '--workers',
      '1',
      '--state-dir',
      stateDir,
    ]);
    let stderr = '';
    const ready = new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const url = /ready: POST (http:\/\/\S+:predict)/.exec(stderr)?.[1];
        if (url) resolve(url);
      });
      child.on('exit', () => reject(new Error(`serve exited: ${stderr}`)));
    });
    const url = await ready;
    const res = await fetch(url, {
      method: 'POST',
      body: JSON.stringify({
        instances: [
          [
            [0, 255],
            [255, 0],
          ],
        ],
      }),
    });
    assert.equal(res.status, 200);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /SIGTERM: finishing in-flight requests/);
  });
});
