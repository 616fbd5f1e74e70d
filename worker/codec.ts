import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import { SpecError } from '../scaling/validate.js';

/**
 * Payload encryption: with `EFFSCALE_PAYLOAD_KEY_FILE` set (a Secret on a cluster), every payload a client or
 * worker sends to Temporal — specs, paths, options, results — is sealed with AES-256-GCM before it leaves the
 * process, so the namespace's UI, CLI and database hold ciphertext. Each payload is serialized whole (its
 * metadata too) and sealed, as in Temporal's encryption sample; the key id (a hash, never the key) says which key
 * sealed it. Keys rotate: the current key seals, and `EFFSCALE_PAYLOAD_OLD_KEY_FILES` (comma-separated) lists the
 * retired keys that still open what they sealed. Search attributes and workflow ids are not payloads and stay
 * readable, by design. `effscale codec-server` lets the Temporal UI show the payloads to those allowed.
 */

const ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const { Payload: PayloadProto } = proto.temporal.api.common.v1;

export class EncryptionCodec implements PayloadCodec {
  readonly keyId: string;
  /** Every key that opens payloads, by id: the current one and the retired ones. */
  private readonly keys = new Map<string, Buffer>();

  constructor(
    private readonly key: Buffer,
    retired: Buffer[] = [],
  ) {
    this.keyId = keyIdOf(key);
    for (const k of [key, ...retired]) this.keys.set(keyIdOf(k), k);
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(payloads.map((p) => this.seal(p)));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(payloads.map((p) => this.open(p)));
  }

  private seal(payload: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const sealed = Buffer.concat([cipher.update(PayloadProto.encode(payload).finish()), cipher.final()]);
    return {
      metadata: { encoding: Buffer.from(ENCODING), [KEY_ID]: Buffer.from(this.keyId) },
      data: Buffer.concat([iv, sealed, cipher.getAuthTag()]),
    };
  }

  private open(payload: Payload): Payload {
    if (text(payload.metadata?.encoding) !== ENCODING) return payload;
    const keyId = text(payload.metadata?.[KEY_ID]);
    const key = keyId === undefined ? undefined : this.keys.get(keyId);
    if (!key)
      throw new Error(
        `a payload sealed with key ${keyId} cannot be opened with key ${[...this.keys.keys()].join(' or ')} ` +
          '(another key file? a retired key goes in EFFSCALE_PAYLOAD_OLD_KEY_FILES)',
      );
    const data = Buffer.from(payload.data ?? []);
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    return PayloadProto.decode(plain) as Payload;
  }
}

function keyIdOf(key: Buffer): string {
  if (key.length !== 32) throw new Error(`an AES-256 key has 32 bytes, not ${key.length}`);
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

function text(bytes: Uint8Array | null | undefined): string | undefined {
  return bytes ? Buffer.from(bytes).toString('utf8') : undefined;
}

/**
 * The codec `EFFSCALE_PAYLOAD_KEY_FILE` names (32 random bytes, base64: `openssl rand -base64 32`), if any, with
 * the retired keys of `EFFSCALE_PAYLOAD_OLD_KEY_FILES`.
 */
export function payloadCodec(env: NodeJS.ProcessEnv = process.env): EncryptionCodec | undefined {
  const file = env.EFFSCALE_PAYLOAD_KEY_FILE;
  if (!file) return undefined;
  const retired = (env.EFFSCALE_PAYLOAD_OLD_KEY_FILES ?? '').split(',').filter((f) => f.trim() !== '');
  return new EncryptionCodec(
    readKey('EFFSCALE_PAYLOAD_KEY_FILE', file),
    retired.map((f) => readKey('EFFSCALE_PAYLOAD_OLD_KEY_FILES', f.trim())),
  );
}

function readKey(variable: string, file: string): Buffer {
  let content: string;
  try {
    content = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new SpecError(`${variable}: ${file}: cannot read the file (${(err as NodeJS.ErrnoException).code})`);
  }
  const key = Buffer.from(content, 'base64');
  if (key.length !== 32)
    throw new SpecError(`${variable}: ${file}: expected 32 random bytes in base64 (openssl rand -base64 32)`);
  return key;
}

/** The data converter of every client and worker: the codec when a key is configured, else the default. */
export function dataConverter(env: NodeJS.ProcessEnv = process.env): DataConverter {
  const codec = payloadCodec(env);
  return codec ? { payloadCodecs: [codec] } : {};
}
