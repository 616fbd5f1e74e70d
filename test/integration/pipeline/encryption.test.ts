import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { EncryptionCodec } from '../../../worker/codec.js';
import { ensureDevServer } from '../../../client/dev-server.js';
import { tempStateDir, testSpec } from './harness.js';

/** Payload encryption end to end: the server holds ciphertext; the key's holders read and extend the search. */

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../../../bin/effscale.js', import.meta.url));

interface RawPayload {
  metadata?: Record<string, Uint8Array>;
  data?: Uint8Array;
}

/**
 * Every payload of a history, found by shape (inputs, results, heartbeats, memos, failures' details), with its
 * path. Left out: search attributes, which the server indexes, and the SDK's patch markers (a patch's name):
 * neither is ever encrypted.
 */
function payloadsOf(value: unknown, path = '', out: [string, RawPayload][] = []): [string, RawPayload][] {
  if (Array.isArray(value)) value.forEach((v, i) => payloadsOf(v, `${path}[${i}]`, out));
  else if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const o = value as Record<string, unknown>;
    if (o.data instanceof Uint8Array && o.metadata && typeof o.metadata === 'object') out.push([path, o as RawPayload]);
    else
      for (const [k, v] of Object.entries(o))
        if (!/searchAttributes|patch-data/i.test(k)) payloadsOf(v, `${path}.${k}`, out);
  }
  return out;
}

test('with EFFSCALE_PAYLOAD_KEY_FILE every payload is sealed; only the key opens them', async () => {
  const dir = await tempStateDir('encryption');
  const keyFile = join(dir, 'payload.key');
  writeFileSync(keyFile, randomBytes(32).toString('base64'));
  const server = await ensureDevServer(await tempStateDir('encryption-server'));
  const env = { ...process.env, TEMPORAL_ADDRESS: server.address, EFFSCALE_PAYLOAD_KEY_FILE: keyFile };
  const worker = spawn(process.execPath, [cli, 'worker'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...env, EFFSCALE_STATE_DIR: await tempStateDir('encryption-worker') },
  });
  try {
    const specFile = join(dir, 'sealed.yaml');
    writeFileSync(specFile, JSON.stringify(testSpec('sealed')));
    const flags = ['--state-dir', await tempStateDir('encryption-client')];
    const searched = await run(process.execPath, [cli, 'search', specFile, '--json', ...flags], {
      env,
      timeout: 300_000,
    });
    const out = JSON.parse(searched.stdout) as { status: string; temporal: { workflowId: string } };
    assert.equal(out.status, 'completed');
    const id = out.temporal.workflowId;

    const direct = await Connection.connect({ address: server.address });
    try {
      const { history } = await direct.workflowService.getWorkflowExecutionHistory({
        namespace: 'default',
        execution: { workflowId: id },
        maximumPageSize: 10_000,
      });
      const payloads = payloadsOf(history);
      assert.ok(payloads.length > 10, `payloads found: ${payloads.length}`);
      for (const [path, p] of payloads) {
        assert.equal(Buffer.from(p.metadata?.encoding ?? []).toString(), 'binary/encrypted', path);
        assert.ok(
          !Buffer.from(p.data ?? [])
            .toString('latin1')
            .includes('trainLimit'),
          'no spec in clear',
        );
      }
    } finally {
      await direct.close();
    }

    // The key's holders extend the finished search: the client reads its sealed start input.
    await run(process.execPath, [cli, 'extend', id, '--phi', '3', ...flags], { env, timeout: 60_000 });
    const result = await run(process.execPath, [cli, 'result', id, '--json', ...flags], { env, timeout: 300_000 });
    const extended = JSON.parse(result.stdout) as { family: { phi: number }[] };
    assert.deepEqual(
      extended.family.map((m) => m.phi),
      [1, 2, 3],
    );

    // Another key opens nothing, and says so.
    const otherKey = join(dir, 'other.key');
    writeFileSync(otherKey, randomBytes(32).toString('base64'));
    const refused = await run(process.execPath, [cli, 'result', id, '--json', ...flags], {
      env: { ...env, EFFSCALE_PAYLOAD_KEY_FILE: otherKey },
      timeout: 60_000,
    }).then(
      () => assert.fail('another key read the result'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /sealed with key [0-9a-f]{16} cannot be opened with key [0-9a-f]{16}/);
  } finally {
    worker.kill('SIGTERM');
    await server.stop();
  }
});

test('effscale codec-server opens sealed payloads for the Temporal UI, to token holders only; keys rotate', async () => {
  const dir = await tempStateDir('codec');
  const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
  const files = { old: join(dir, 'old.key'), new: join(dir, 'new.key'), token: join(dir, 'token') };
  writeFileSync(files.old, oldKey.toString('base64'));
  writeFileSync(files.new, newKey.toString('base64'));
  writeFileSync(files.token, 'ui-access-token\n');
  // A payload of the history before the rotation: sealed with the old key.
  const spec = testSpec('rotated');
  const [sealed] = await new EncryptionCodec(oldKey).encode([defaultPayloadConverter.toPayload(spec)]);
  const server = spawn(
    process.execPath,
    [cli, 'codec-server', '--port', '0', '--token-file', files.token, '--ui-origin', 'https://ui.example'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, EFFSCALE_PAYLOAD_KEY_FILE: files.new, EFFSCALE_PAYLOAD_OLD_KEY_FILES: files.old },
    },
  );
  try {
    const base = await new Promise<string>((resolve, reject) => {
      let said = '';
      server.stderr.on('data', (chunk: Buffer) => {
        said += chunk.toString();
        const m = /codec server on (http:\/\/\S+) \(key [0-9a-f]{16}, token required\)/.exec(said);
        if (m) resolve(m[1]);
      });
      server.once('exit', (code) => reject(new Error(`codec-server exited (${code}): ${said}`)));
    });
    const call = (route: string, payloads: unknown[], token = 'ui-access-token') =>
      fetch(`${base}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-namespace': 'default' },
        body: JSON.stringify({ payloads }),
      });
    const json = (p: Payload) => ({
      metadata: Object.fromEntries(
        Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
      ),
      data: Buffer.from(p.data ?? []).toString('base64'),
    });

    const decoded = await call('/decode', [json(sealed)]);
    assert.equal(decoded.status, 200);
    assert.equal(decoded.headers.get('access-control-allow-origin'), 'https://ui.example');
    const [plain] = ((await decoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] })
      .payloads;
    assert.equal(Buffer.from(plain.metadata.encoding, 'base64').toString(), 'json/plain');
    assert.deepEqual(JSON.parse(Buffer.from(plain.data, 'base64').toString()), spec);

    // New payloads are sealed with the new key.
    const encoded = (await (await call('/encode', [plain])).json()) as {
      payloads: { metadata: Record<string, string> }[];
    };
    const keyId = Buffer.from(encoded.payloads[0].metadata['encryption-key-id'], 'base64').toString();
    assert.equal(keyId, new EncryptionCodec(newKey).keyId);

    assert.equal((await call('/decode', [json(sealed)], 'guess')).status, 401);
    const preflight = await fetch(`${base}/decode`, { method: 'OPTIONS' });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    const [foreign] = await new EncryptionCodec(randomBytes(32)).encode([defaultPayloadConverter.toPayload(spec)]);
    const refused = await call('/decode', [json(foreign)]);
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as { message: string }).message, /cannot be opened with key/);
  } finally {
    server.kill('SIGTERM');
  }
});
