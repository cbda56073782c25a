// Pod-netns work by spawning `nsenter --net=PATH ...`: CHECK's inspection, and the fallback for the
// pod-side setup when koffi (setns, podns-inproc.ts) is unavailable. Spawns
// (argument arrays, never a shell). Callers validate every value first; the ip batch lines are
// built only from validated values, so no value can inject another command.
import { spawn } from 'node:child_process';
import { PodNetError } from './errors.js';

const SPAWN_TIMEOUT_MS = 10_000;

interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Run a command with plain child_process.spawn (execa costs ~5 ms more per spawn here, and
 * ADD is latency-bound). Resolves with the exit code; rejects only when the command cannot start.
 */
function spawnCommand(command: string, args: string[], input: string | undefined): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: SPAWN_TIMEOUT_MS });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new PodNetError('COMMAND_FAILED', `${command} did not run: ${e.message}. Is it installed and on PATH?`, { cause: e })));
    child.on('close', (code, signal) => {
      const text = (bufs: Buffer[]) => Buffer.concat(bufs).toString('utf8').trim();
      resolve({ exitCode: code ?? -1, stdout: text(out), stderr: signal ? `killed by ${signal}` : text(err) });
    });
    child.stdin.on('error', () => undefined); // the command may exit before reading its input
    child.stdin.end(input ?? '');
  });
}

async function inNetns(netnsPath: string, command: string[], input?: string): Promise<CommandResult> {
  const r = await spawnCommand('nsenter', [`--net=${netnsPath}`, '--', ...command], input);
  if (r.exitCode !== 0 && /^nsenter: (cannot open|reassociate)/m.test(r.stderr)) {
    const code = /No such file or directory/.test(r.stderr) ? 'NETNS_NOT_FOUND' : 'NETNS_INVALID';
    throw new PodNetError(code, `cannot enter network namespace ${netnsPath}: ${r.stderr}`);
  }
  return r;
}

function commandFailed(what: string, netnsPath: string, r: CommandResult): PodNetError {
  return new PodNetError('COMMAND_FAILED', `${what} in netns ${netnsPath} failed (exit ${r.exitCode}): ${r.stderr || r.stdout}`);
}

export interface PodSideConfig {
  netnsPath: string;
  ifname: string;
  /** CIDR, e.g. 10.244.1.5/24 */
  address: string;
  gateway: string;
  disableTxChecksum: boolean;
}

/** ip batch for the pod side: interface up, address, default route. `lo` is left to the runtime. */
export function podIpBatch(c: Pick<PodSideConfig, 'ifname' | 'address' | 'gateway'>): string {
  return [
    `link set dev ${c.ifname} up`,
    `address add ${c.address} dev ${c.ifname}`,
    `route add default via ${c.gateway} dev ${c.ifname}`,
    '',
  ].join('\n');
}

/** Configure the pod end: one `ip -batch` spawn and, in parallel, one `ethtool -K IF tx off` spawn. */
export async function configurePodSide(c: PodSideConfig): Promise<void> {
  const ipRun = inNetns(c.netnsPath, ['ip', '-batch', '-'], podIpBatch(c));
  const ethtoolRun = c.disableTxChecksum ? inNetns(c.netnsPath, ['ethtool', '-K', c.ifname, 'tx', 'off']) : undefined;
  const [ip, ethtool] = await Promise.allSettled([ipRun, ethtoolRun]);
  if (ip.status === 'rejected') throw ip.reason;
  if (ethtool.status === 'rejected') throw ethtool.reason;
  if (ip.value.exitCode !== 0) throw commandFailed(`configuring ${c.ifname} (ip -batch)`, c.netnsPath, ip.value);
  if (ethtool.value && ethtool.value.exitCode !== 0) {
    throw commandFailed(`disabling tx checksum offload on ${c.ifname} (ethtool -K)`, c.netnsPath, ethtool.value);
  }
}

export interface PodSideState {
  /** undefined when the interface does not exist in the pod netns */
  link?: { mtu: number; mac: string; up: boolean; ipv4: string[] };
  defaultRoutes: Array<{ gateway?: string; dev?: string }>;
}

interface IpAddrJson {
  ifname?: string;
  mtu?: number;
  address?: string;
  flags?: string[];
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}
interface IpRouteJson {
  dst?: string;
  gateway?: string;
  dev?: string;
}

/** Parse `ip -force -j -batch` output of "route show default" then "address show dev IF". */
export function parsePodSideState(stdout: string): PodSideState {
  const lines = stdout.split('\n').filter((l) => l.startsWith('['));
  const routes = lines[0] ? (JSON.parse(lines[0]) as IpRouteJson[]) : [];
  const addrs = lines[1] ? (JSON.parse(lines[1]) as IpAddrJson[]) : [];
  const state: PodSideState = { defaultRoutes: routes.map((r) => ({ gateway: r.gateway, dev: r.dev })) };
  const link = addrs[0];
  if (link) {
    state.link = {
      mtu: link.mtu ?? 0,
      mac: link.address ?? '',
      up: (link.flags ?? []).includes('UP'),
      ipv4: (link.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    };
  }
  return state;
}

/** Read the pod end's state with one spawn. */
export async function inspectPodSide(netnsPath: string, ifname: string): Promise<PodSideState> {
  const r = await inNetns(netnsPath, ['ip', '-force', '-j', '-batch', '-'], `route show default\naddress show dev ${ifname}\n`);
  if (r.exitCode !== 0 && !/does not exist/.test(r.stderr)) throw commandFailed(`inspecting ${ifname}`, netnsPath, r);
  return parsePodSideState(r.stdout);
}
