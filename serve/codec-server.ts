import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { BearerAuth } from './auth.js';

/**
 * Temporal's codec server protocol, so the Temporal UI (and `temporal workflow show --codec-endpoint`) shows the
 * payloads effscale encrypts (worker/codec.ts) to the people allowed to read them: POST /encode and /decode take
 * and give `{ "payloads": [{ "metadata": { key: base64 }, "data": base64 }] }`. With a token, every request must
 * carry it (the UI forwards its user's access token as `Authorization` when told to); the browser may call it
 * from the UI's origin only.
 */

export interface CodecServerOptions {
  codec: PayloadCodec;
  auth?: BearerAuth;
  /** The Temporal UI's origin (`https://temporal.example.com`): the only page a browser may call this from. */
  uiOrigin?: string;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const MAX_BODY = 16 << 20;

export function codecServer({ codec, auth, uiOrigin }: CodecServerOptions): Server {
  return createServer((req, res) => {
    if (uiOrigin) cors(res, uiOrigin);
    if (req.method === 'OPTIONS') return reply(res, 204);
    const route = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || (route !== '/encode' && route !== '/decode'))
      return reply(res, 404, { message: 'POST /encode or /decode' });
    if (auth && !auth.allows(req.headers.authorization)) return reply(res, 401, { message: 'unauthorized' });
    void transcode(req, route === '/encode' ? (p) => codec.encode(p) : (p) => codec.decode(p)).then(
      (payloads) => reply(res, 200, { payloads }),
      (err: unknown) => reply(res, 400, { message: err instanceof Error ? err.message : String(err) }),
    );
  });
}

async function transcode(req: IncomingMessage, run: (p: Payload[]) => Promise<Payload[]>): Promise<JsonPayload[]> {
  const body = JSON.parse(await readBody(req)) as { payloads?: JsonPayload[] };
  if (!Array.isArray(body.payloads)) throw new Error('expected {"payloads": [...]}');
  return (await run(body.payloads.map(fromJson))).map(toJson);
}

function fromJson(p: JsonPayload): Payload {
  const metadata = Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  return { metadata, data: Buffer.from(p.data ?? '', 'base64') };
}

function toJson(p: Payload): JsonPayload {
  const metadata = Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
  );
  return { metadata, data: Buffer.from(p.data ?? []).toString('base64') };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error(`request body over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function cors(res: ServerResponse, origin: string): void {
  res.setHeader('Access-Control-Allow-Origin', origin);
  res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
  res.setHeader('Access-Control-Allow-Credentials', 'true');
  res.setHeader('Vary', 'Origin');
}

function reply(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
