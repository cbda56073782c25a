// CLI: run the test API server as its own process (e.g. inside a network namespace of the e2e harness).
//   tsx e2e/apiserver/main.ts --listen 10.0.0.1:6443 --kubeconfig-out /tmp/loomt-x/kubeconfig
//     [--history-size 1000] [--bookmark-interval-ms 60000] [--token TOKEN] [--log] [--unix-socket PATH]
// Prints one JSON line {"url","kubeconfig"[,"unixSocket"]} on stdout when ready; stops on SIGTERM/SIGINT.
// --unix-socket adds a plain-HTTP side door (same API plus /loom-test/* fault injection) that the e2e
// harness uses from other network namespaces.
import { parseArgs } from 'node:util';
import { isIP } from 'node:net';
import { startApiServer } from './server.js';
import type { ApiServerOptions } from './server.js';

function fail(message: string): never {
  process.stderr.write(`loom test apiserver: ${message}\n`);
  process.exit(2);
}

function parseListen(text: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (!m || isIP(m[1] ?? '') === 0) fail(`--listen must be IP:PORT (e.g. 10.0.0.1:6443 or [fd00::1]:6443), got "${text}"`);
  const port = Number(m[2]);
  if (port > 65535) fail(`--listen port must be 0-65535, got ${port}`);
  return { host: m[1] ?? '', port };
}

function positiveInt(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) fail(`--${name} must be a positive integer, got "${text}"`);
  return Number(text);
}

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1:0' },
    'kubeconfig-out': { type: 'string' },
    'history-size': { type: 'string' },
    'bookmark-interval-ms': { type: 'string' },
    token: { type: 'string' },
    log: { type: 'boolean', default: false },
    'unix-socket': { type: 'string' },
  },
  strict: true,
});

const { host, port } = parseListen(values.listen);
const options: ApiServerOptions = { host, port };
if (values['kubeconfig-out']) options.kubeconfigPath = values['kubeconfig-out'];
const historySize = positiveInt('history-size', values['history-size']);
if (historySize !== undefined) options.historySize = historySize;
const bookmarkIntervalMs = positiveInt('bookmark-interval-ms', values['bookmark-interval-ms']);
if (bookmarkIntervalMs !== undefined) options.bookmarkIntervalMs = bookmarkIntervalMs;
if (values.token) options.token = values.token;
const unixSocket = values['unix-socket'];
if (unixSocket !== undefined) {
  if (!unixSocket.startsWith('/') || unixSocket.includes('..') || Buffer.byteLength(unixSocket) > 107) fail(`--unix-socket must be an absolute path without ".." of at most 107 bytes, got "${unixSocket}"`);
  options.unixSocketPath = unixSocket;
}
if (values.log) options.log = (line) => process.stderr.write(`${line}\n`);

const server = await startApiServer(options);
process.stdout.write(`${JSON.stringify({ url: server.url, kubeconfig: server.kubeconfigPath, ...(server.unixSocketPath ? { unixSocket: server.unixSocketPath } : {}) })}\n`);
const shutdown = (): void => {
  server.stop().then(() => process.exit(0), () => process.exit(1));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
