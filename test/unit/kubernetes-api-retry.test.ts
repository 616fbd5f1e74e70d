import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { isTransient, retryTransient, withTransientRetries } from '../../executors/kubernetes/api-retry.js';

test('errors of an API server restarting are transient; answers about the request are not', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
  assert.equal(isTransient(refused), true);
  assert.equal(isTransient(new Error('request failed', { cause: refused })), true);
  assert.equal(isTransient(new ApiException(503, 'unavailable', '', {})), true);
  assert.equal(isTransient(new ApiException(429, 'too many requests', '', {})), true);
  for (const code of [400, 403, 404, 409, 422])
    assert.equal(isTransient(new ApiException(code, 'no', '', {})), false, String(code));
  assert.equal(isTransient(new Error('invalid pod template')), false);
});

test('a call is tried again through transient errors, up to its limit, and never through other errors', async () => {
  let calls = 0;
  const flaky = () => {
    calls++;
    if (calls < 3) return Promise.reject(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    return Promise.resolve('ok');
  };
  assert.equal(await retryTransient(flaky), 'ok');
  assert.equal(calls, 3);
  let forbidden = 0;
  await assert.rejects(
    retryTransient(() => (forbidden++, Promise.reject(new ApiException(403, 'forbidden', '', {})))),
    ApiException,
  );
  assert.equal(forbidden, 1);
  await assert.rejects(
    retryTransient(() => Promise.reject(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), 300),
    /refused/,
  );
});

test('the API client rides out a server that is down, then answers', async () => {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const core = withTransientRetries(config.makeApiClient(CoreV1Api));
  let server: Server | undefined;
  // Down for a second (connection refused), then up.
  const up = setTimeout(() => {
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [] }));
    }).listen(port, '127.0.0.1');
  }, 1000);
  try {
    const list = await core.listNamespacedPod({ namespace: 'effscale' });
    assert.equal(list.metadata?.resourceVersion, '7');
  } finally {
    clearTimeout(up);
    server?.close();
  }
});
