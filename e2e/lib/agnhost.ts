// A tiny agnhost-like program that runs inside pod network namespaces (built-ins only, bundled once
// per cluster by bundle.ts):
//   serve --name NAME [--tcp 80,81] [--udp 80,81]   answer every TCP connection / UDP datagram with NAME
//                                                  prints {"ready":true} once every port listens
//   probe --targets JSON [--timeout-ms 1000] [--retries 1]
//                                                  JSON [{ip,port,protocol}] -> prints JSON ProbeResult[]
// All probes of one process run concurrently with short timeouts.
import { createSocket } from 'node:dgram';
import { createConnection, createServer, isIPv4 } from 'node:net';
import { parseArgs } from 'node:util';

export type Protocol = 'TCP' | 'UDP';

export interface ProbeTarget {
  ip: string;
  port: number;
  protocol: Protocol;
}

export interface ProbeResult extends ProbeTarget {
  ok: boolean;
  /** what the server answered (its pod name) */
  reply?: string;
  error?: string;
}

function fail(message: string): never {
  process.stderr.write(`agnhost: ${message}\n`);
  process.exit(2);
}

function ports(list: string | undefined, flag: string): number[] {
  if (!list) return [];
  return list.split(',').map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) fail(`--${flag} takes ports 1..65535 separated by commas, got "${list}"`);
    return n;
  });
}

export function parseTargets(json: string): ProbeTarget[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error('--targets must be a JSON array of {ip, port, protocol}');
  }
  if (!Array.isArray(raw)) throw new Error('--targets must be a JSON array of {ip, port, protocol}');
  return raw.map((t: unknown, i) => {
    const o = (t ?? {}) as Record<string, unknown>;
    const ip = o['ip'];
    const port = o['port'];
    const protocol = o['protocol'];
    if (typeof ip !== 'string' || !isIPv4(ip)) throw new Error(`target ${i}: ip must be an IPv4 address`);
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`target ${i}: port must be 1..65535`);
    if (protocol !== 'TCP' && protocol !== 'UDP') throw new Error(`target ${i}: protocol must be TCP or UDP`);
    return { ip, port, protocol };
  });
}

async function serve(name: string, tcp: number[], udp: number[]): Promise<void> {
  const answer = `${name}\n`;
  await Promise.all([
    ...tcp.map((port) => new Promise<void>((resolve, reject) => {
      const server = createServer((sock) => {
        sock.on('error', () => undefined);
        sock.end(answer);
      });
      server.once('error', reject);
      server.listen(port, '0.0.0.0', () => resolve());
    })),
    ...udp.map((port) => new Promise<void>((resolve, reject) => {
      const sock = createSocket('udp4');
      sock.on('message', (_msg, from) => sock.send(answer, from.port, from.address));
      sock.once('error', reject);
      sock.bind(port, '0.0.0.0', () => resolve());
    })),
  ]);
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
}

function probeTcp(t: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let reply = '';
    let connected = false;
    const sock = createConnection({ host: t.ip, port: t.port });
    const done = (r: ProbeResult) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done(connected ? { ...t, ok: true, reply: reply.trim() } : { ...t, ok: false, error: `no TCP connection within ${timeoutMs} ms` }), timeoutMs);
    sock.on('connect', () => { connected = true; });
    sock.on('data', (d: Buffer) => { reply += d.toString('utf8'); });
    sock.on('end', () => done({ ...t, ok: true, reply: reply.trim() }));
    sock.on('error', (e) => done(connected ? { ...t, ok: true, reply: reply.trim() } : { ...t, ok: false, error: e.message }));
  });
}

function probeUdpOnce(t: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const done = (r: ProbeResult) => {
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ...t, ok: false, error: `no UDP reply within ${timeoutMs} ms` }), timeoutMs);
    sock.on('message', (msg) => done({ ...t, ok: true, reply: msg.toString('utf8').trim() }));
    sock.on('error', (e) => done({ ...t, ok: false, error: e.message }));
    sock.send('probe\n', t.port, t.ip);
  });
}

async function probeOne(t: ProbeTarget, timeoutMs: number, retries: number): Promise<ProbeResult> {
  let last: ProbeResult = { ...t, ok: false, error: 'not probed' };
  for (let attempt = 0; attempt <= retries; attempt++) {
    last = t.protocol === 'TCP' ? await probeTcp(t, timeoutMs) : await probeUdpOnce(t, timeoutMs);
    if (last.ok) return last;
  }
  return last;
}

export async function probeAll(targets: ProbeTarget[], timeoutMs: number, retries: number): Promise<ProbeResult[]> {
  return Promise.all(targets.map((t) => probeOne(t, timeoutMs, retries)));
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      tcp: { type: 'string' },
      udp: { type: 'string' },
      targets: { type: 'string' },
      'timeout-ms': { type: 'string', default: '1000' },
      retries: { type: 'string', default: '1' },
    },
    strict: true,
  });
  if (mode === 'serve') {
    if (!values.name) fail('serve needs --name');
    const tcp = ports(values.tcp, 'tcp');
    const udp = ports(values.udp, 'udp');
    if (tcp.length + udp.length === 0) fail('serve needs --tcp and/or --udp ports');
    await serve(values.name, tcp, udp);
    return;
  }
  if (mode === 'probe') {
    let targets: ProbeTarget[];
    try {
      targets = parseTargets(values.targets ?? '');
    } catch (e) {
      fail((e as Error).message);
    }
    const timeoutMs = Number(values['timeout-ms']);
    const retries = Number(values.retries);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 10 || timeoutMs > 60000) fail('--timeout-ms must be 10..60000');
    if (!Number.isInteger(retries) || retries < 0 || retries > 10) fail('--retries must be 0..10');
    process.stdout.write(`${JSON.stringify(await probeAll(targets, timeoutMs, retries))}\n`);
    process.exit(0);
  }
  fail(`unknown mode "${mode ?? ''}"; use "serve" or "probe"`);
}

// Run only as a program (the bundle), not when imported for its types and parsers.
if (process.argv[1] !== undefined && /agnhost\.(m?js|ts)$/.test(process.argv[1])) void main();
