import { createServer, type Server } from 'node:http';
import type { Worker } from '@temporalio/worker';

/**
 * The worker's health for Kubernetes probes (`effscale worker --health-port`): /healthz answers 200 while the
 * worker runs (liveness: a worker that stopped polling is restarted), /readyz once it polls Temporal. Nothing else
 * is served, and nothing about the searches.
 */
export function healthServer(worker: Worker): Server {
  return createServer((req, res) => {
    const state = worker.getState();
    const route = (req.url ?? '').split('?')[0];
    const ok =
      route === '/healthz'
        ? state === 'INITIALIZED' || state === 'RUNNING'
        : route === '/readyz' && state === 'RUNNING';
    if (route !== '/healthz' && route !== '/readyz') res.writeHead(404).end();
    else res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : `${state}\n`);
  });
}
