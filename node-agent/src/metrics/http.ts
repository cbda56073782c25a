// /metrics, /healthz and /readyz on one small HTTP server.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** true = fine; false or a string (the reason) = not fine. */
export type ProbeResult = boolean | string;

export interface HttpEndpointsOptions {
  /** TCP port; 0 picks a free port (tests). The agent does not call this when metricsPort is 0. */
  port: number;
  bindAddress: string;
  registry: Registry;
  isHealthy: () => ProbeResult;
  isReady: () => ProbeResult;
}

export interface HttpEndpoints {
  /** The port actually bound. */
  port: number;
  close(): Promise<void>;
}

function probe(check: () => ProbeResult, what: string): { status: number; body: string } {
  let result: ProbeResult;
  try {
    result = check();
  } catch (err) {
    result = `${what} check failed: ${(err as Error).message}`;
  }
  if (result === true) return { status: 200, body: 'ok\n' };
  const reason = typeof result === 'string' && result !== '' ? result : `not ${what}`;
  return { status: 503, body: `${reason}\n` };
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

export async function startHttpEndpoints(options: HttpEndpointsOptions): Promise<HttpEndpoints> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'text/plain', 'only GET and HEAD are supported\n');
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/metrics':
        return send(res, 200, options.registry.contentType, await options.registry.metrics());
      case '/healthz': {
        const { status, body } = probe(options.isHealthy, 'healthy');
        return send(res, status, 'text/plain', body);
      }
      case '/readyz': {
        const { status, body } = probe(options.isReady, 'ready');
        return send(res, status, 'text/plain', body);
      }
      default:
        return send(res, 404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n');
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, 'text/plain', `internal error: ${(err as Error).message}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${options.bindAddress}:${options.port} for metrics/health (${err.code ?? err.message}): ` +
        'pick another metricsPort / metricsBindAddress or set metricsPort to 0 to disable'));
    server.once('error', onError);
    server.listen(options.port, options.bindAddress, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((err) => (err ? reject(err) : resolve()));
    }),
  };
}
