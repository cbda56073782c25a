// HTTP over the agent's debug unix socket.
import { request } from 'node:http';
import type { ErrorResponse } from '../debugapi/types.js';

export const DEFAULT_SOCKET = '/var/run/loom/loomctl.sock';

export class AgentUnreachableError extends Error {}
export class AgentRequestError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export async function callAgent<T>(socketPath: string, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 30000): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      { socketPath, method, path, timeout: timeoutMs, headers: payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new AgentUnreachableError(`the agent did not answer within ${timeoutMs / 1000} s on ${socketPath}`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e instanceof AgentUnreachableError) return reject(e);
      const why = e.code === 'ENOENT' ? 'the socket does not exist' : e.code === 'ECONNREFUSED' ? 'nothing listens on it' : e.code === 'EACCES' ? 'permission denied (run as root)' : e.message;
      reject(new AgentUnreachableError(
        `cannot reach loom-agent at ${socketPath}: ${why}. Is the agent running on this node? Check the loom-agent pod ` +
          '(kubectl -n kube-system get pods -l app.kubernetes.io/name=loom -o wide) and its log; use --socket PATH if the agent uses another CNI socket directory.',
      ));
    });
    if (payload !== undefined) req.write(payload);
    req.end();
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AgentRequestError(status, `the agent answered ${method} ${path} with non-JSON (HTTP ${status}): ${text.slice(0, 200)}`);
  }
  if (status < 200 || status > 299) throw new AgentRequestError(status, (json as ErrorResponse).error ?? `HTTP ${status}`);
  return json as T;
}
