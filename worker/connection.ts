import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { SpecError } from '../scaling/validate.js';
import { DEFAULT_NAMESPACE } from './temporal.js';

/**
 * How to reach a Temporal server that is not the embedded dev server: the address and namespace (flags first),
 * and TLS, mTLS and an API key from the environment variables Temporal's CLI and SDKs share, so a worker pod
 * takes them from a Secret like any Temporal client. The key and the key file go to the connection only: never
 * into a workflow or activity input, a flag (the process list) or a log line.
 *
 *   TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE        host:port and namespace (`--address`, `--namespace` win)
 *   TEMPORAL_TLS                                true / false: TLS on or off (default: on with any setting below)
 *   TEMPORAL_TLS_SERVER_CA_CERT_PATH            the server's CA (PEM), when the system's roots do not sign it
 *   TEMPORAL_TLS_SERVER_NAME                    the name the server's certificate carries, if not the host
 *   TEMPORAL_TLS_CLIENT_CERT_PATH, _KEY_PATH    mTLS: this client's certificate and key (PEM)
 *   TEMPORAL_API_KEY                            an API key (Temporal Cloud), sent as a bearer token over TLS
 */
export interface ServerConnection {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
}

export interface ServerTarget {
  connection: ServerConnection;
  namespace: string;
}

/** The server the flags and the environment name, or undefined when neither gives an address. */
export function serverTarget(
  flags: { address?: string; namespace?: string },
  env: NodeJS.ProcessEnv = process.env,
): ServerTarget | undefined {
  const address = flags.address ?? env.TEMPORAL_ADDRESS;
  if (!address) return undefined;
  const namespace = flags.namespace ?? env.TEMPORAL_NAMESPACE ?? DEFAULT_NAMESPACE;
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  const tls = tlsFrom(env, apiKey !== undefined);
  return { namespace, connection: { address, ...(tls && { tls }), ...(apiKey && { apiKey }) } };
}

function tlsFrom(env: NodeJS.ProcessEnv, apiKey: boolean): TLSConfig | undefined {
  const cert = env.TEMPORAL_TLS_CLIENT_CERT_PATH;
  const key = env.TEMPORAL_TLS_CLIENT_KEY_PATH;
  const ca = env.TEMPORAL_TLS_SERVER_CA_CERT_PATH;
  const serverName = env.TEMPORAL_TLS_SERVER_NAME;
  const flag = env.TEMPORAL_TLS?.toLowerCase();
  if (flag !== undefined && flag !== 'true' && flag !== 'false')
    throw new SpecError(`TEMPORAL_TLS=${env.TEMPORAL_TLS}: expected true or false`);
  const wanted = flag === 'true' || (flag === undefined && (apiKey || Boolean(cert || key || ca || serverName)));
  if (!wanted) return undefined;
  if (Boolean(cert) !== Boolean(key))
    throw new SpecError(
      'TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH: mTLS needs both the certificate and the key',
    );
  return {
    ...(serverName && { serverNameOverride: serverName }),
    ...(ca && { serverRootCACertificate: pem('TEMPORAL_TLS_SERVER_CA_CERT_PATH', ca) }),
    ...(cert &&
      key && {
        clientCertPair: {
          crt: pem('TEMPORAL_TLS_CLIENT_CERT_PATH', cert),
          key: pem('TEMPORAL_TLS_CLIENT_KEY_PATH', key),
        },
      }),
  };
}

function pem(variable: string, path: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new SpecError(`${variable}=${path}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  if (!data.toString('latin1').includes('-----BEGIN ')) throw new SpecError(`${variable}=${path}: expected a PEM file`);
  return data;
}
