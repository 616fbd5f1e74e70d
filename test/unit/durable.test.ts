import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporaryName, writeFileAtomic, writeFolderAtomically } from '../../trainer/durable.js';

const durable = new URL('../../trainer/durable.js', import.meta.url).href;
const scratch = () => mkdtemp(join(tmpdir(), 'effscale-durable-'));

test('a writer killed between its write and its rename leaves the old file whole; the next write succeeds', async () => {
  const dir = await scratch();
  const file = join(dir, 'result.json');
  await writeFileAtomic(file, '{"old":true}');
  // The child writes half of the new file, says so, and waits to be killed before it can rename.
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { writeFileAtomic } = await import(${JSON.stringify(durable)});
       await writeFileAtomic(${JSON.stringify(file)}, async (f) => {
         await f.writeFile('{"new":');
         process.stdout.write('written\\n');
         await new Promise(() => setInterval(() => undefined, 1000));
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(await readFile(file, 'utf8'), '{"old":true}');
  const left = (await readdir(dir)).filter((f) => f !== 'result.json');
  assert.equal(left.length, 1, 'the killed writer left its temporary file');
  assert.ok(left[0].startsWith(`result.json.${hostname()}-${child.pid}-`), left[0]);
  await writeFileAtomic(file, '{"new":true}');
  assert.equal(await readFile(file, 'utf8'), '{"new":true}');
});

test('temporary names differ per write, and name the host and the process', () => {
  const a = temporaryName('/v/x.json');
  assert.notEqual(a, temporaryName('/v/x.json'));
  assert.match(a, new RegExp(`^/v/x\\.json\\.${hostname()}-${process.pid}-[0-9a-f]{12}\\.tmp$`));
});

test('a folder written atomically replaces the old one whole, and leaves nothing beside it', async () => {
  const dir = await scratch();
  const checkpoint = join(dir, 'checkpoint');
  for (const epoch of [1, 2, 3])
    await writeFolderAtomically(checkpoint, {
      'state.json': JSON.stringify({ epoch }),
      'weights.bin': new Uint8Array(1 << 16).fill(epoch),
    });
  const { epoch } = JSON.parse(await readFile(join(checkpoint, 'state.json'), 'utf8')) as { epoch: number };
  const weights = await readFile(join(checkpoint, 'weights.bin'));
  assert.equal(epoch, 3);
  assert.ok(
    weights.every((b) => b === 3),
    'state and weights of the same write',
  );
  assert.deepEqual(await readdir(dir), ['checkpoint']);
  assert.deepEqual((await readdir(checkpoint)).sort(), ['state.json', 'weights.bin']);
});

test('a write that fails part-way leaves the old file and no temporary one', async () => {
  const dir = await scratch();
  const file = join(dir, 'index.bin');
  await writeFile(file, 'old');
  await assert.rejects(
    writeFileAtomic(file, async (f) => {
      await f.writeFile('half');
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    }),
    /no space left/,
  );
  assert.equal(await readFile(file, 'utf8'), 'old');
  assert.deepEqual(await readdir(dir), ['index.bin']);
});
