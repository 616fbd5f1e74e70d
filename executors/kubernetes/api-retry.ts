import { ApiException } from '@kubernetes/client-node';

/**
 * The API server restarts (an upgrade, a control-plane failover): for a while every request is refused or reset,
 * or answered 5xx/429. Such an error says nothing about the training, so a call is tried again with backoff for
 * up to `limitMs`, instead of failing an attempt the candidate's retries would count.
 */
export async function retryTransient<T>(call: () => Promise<T>, limitMs = API_RETRY_MS): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (!isTransient(e) || Date.now() >= deadline) throw e;
      await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * 2 ** attempt)));
    }
  }
}

/** Two minutes: longer than an API server takes to restart, short of the training activity's heartbeat timeout. */
export const API_RETRY_MS = 120_000;

const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EAI_AGAIN']);

export function isTransient(e: unknown): boolean {
  if (e instanceof ApiException) return e.code >= 500 || e.code === 429;
  for (let err: unknown = e; err instanceof Error; err = err.cause) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK.has(code)) return true;
    if (/socket hang up|ECONNREFUSED|ECONNRESET/.test(err.message)) return true;
  }
  return false;
}

/** The API client with every call tried again through transient errors (see retryTransient). */
export function withTransientRetries<T extends object>(api: T): T {
  return new Proxy(api, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        retryTransient(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
    },
  });
}
