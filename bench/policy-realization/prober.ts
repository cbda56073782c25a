// A long-running TCP prober that runs inside a client pod's network namespace (built-ins only).
// Every --interval-ms it starts a fresh TCP connection (a new conntrack entry, so policy applies)
// to the current target and prints one JSON line per attempt when it ends:
//   {"t": <wall-clock ms when the attempt started>, "ok": true|false, "ms": <duration>, "ip": "..."}
// stdin lines set the target: `{"ip":"10.244.2.5","port":80}`, or `{}` to pause.
//   ip netns exec POD node --import tsx bench/policy-realization/prober.ts [--interval-ms 20] [--timeout-ms 500]
import { createConnection, isIPv4 } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

interface Target {
  ip: string;
  port: number;
}

function fail(message: string): never {
  process.stderr.write(`prober: ${message}\n`);
  process.exit(2);
}

function positiveInt(text: string | undefined, flag: string, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 60000) fail(`--${flag} takes an integer 1..60000, got "${text}"`);
  return n;
}

function parseTarget(line: string): Target | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    fail(`stdin lines must be JSON {"ip","port"} or {}, got "${line}"`);
  }
  const o = (raw ?? {}) as Record<string, unknown>;
  if (o['ip'] === undefined) return undefined;
  const ip = o['ip'];
  const port = o['port'];
  if (typeof ip !== 'string' || !isIPv4(ip)) fail(`target ip must be IPv4, got ${JSON.stringify(ip)}`);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) fail(`target port must be 1..65535, got ${JSON.stringify(port)}`);
  return { ip, port };
}

const now = (): number => performance.timeOrigin + performance.now();

function attempt(target: Target, timeoutMs: number): void {
  const t = now();
  let done = false;
  const socket = createConnection({ host: target.ip, port: target.port });
  const finish = (ok: boolean): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.destroy();
    process.stdout.write(JSON.stringify({ t: Math.round(t * 10) / 10, ok, ms: Math.round((now() - t) * 10) / 10, ip: target.ip }) + '\n');
  };
  const timer = setTimeout(() => finish(false), timeoutMs);
  socket.once('connect', () => finish(true));
  socket.once('error', () => finish(false));
}

const { values } = parseArgs({ options: { 'interval-ms': { type: 'string' }, 'timeout-ms': { type: 'string' } } });
const intervalMs = positiveInt(values['interval-ms'], 'interval-ms', 20);
const timeoutMs = positiveInt(values['timeout-ms'], 'timeout-ms', 500);
let target: Target | undefined;

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== '') target = parseTarget(line);
}).on('close', () => process.exit(0));

setInterval(() => {
  if (target) attempt(target, timeoutMs);
}, intervalMs);
process.stdout.write(JSON.stringify({ ready: true }) + '\n');
