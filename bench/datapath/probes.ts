// The two measurements of the datapath benchmark, run the same way on Loom's pods and on the plain
// baseline's: ICMP round-trip times with ping and single-stream TCP throughput with iperf3 (the
// server inside the destination pod's netns). Traffic stays between the two namespaces given.
import { execa } from 'execa';
import { isIPv4 } from 'node:net';
import { iperfTcp } from '../bandwidth/iperf.js';
import { median } from '../lib/stats.js';

/** Anything with a network namespace and an IPv4 address: a Loom pod or a baseline pod. */
export interface Endpoint {
  key: string;
  netns: string;
  ip: string;
}

const NETNS_RE = /^loomt-[A-Za-z0-9_.-]{1,40}$/;

function checkPair(from: Endpoint, to: Endpoint): void {
  for (const e of [from, to]) {
    if (!NETNS_RE.test(e.netns)) throw new Error(`endpoint ${e.key}: namespace "${e.netns}" must be a loomt-* namespace`);
    if (!isIPv4(e.ip)) throw new Error(`endpoint ${e.key}: "${e.ip}" is not an IPv4 address`);
  }
}

export interface PingOutcome {
  transmitted: number;
  received: number;
  /** icmp_seq of every reply, in arrival order */
  replySeqs: number[];
  /** per-reply RTTs, ms */
  rttsMs: number[];
}

/** Parses `ping -n` output (per-reply lines and the statistics line). */
export function parsePing(stdout: string): PingOutcome {
  const replySeqs: number[] = [];
  const rttsMs: number[] = [];
  for (const m of stdout.matchAll(/icmp_seq=(\d+) ttl=\d+ time=([\d.]+) ms/g)) {
    replySeqs.push(Number(m[1]));
    rttsMs.push(Number(m[2]));
  }
  const stats = /(\d+) packets transmitted, (\d+) received/.exec(stdout);
  if (!stats) throw new Error(`ping printed no statistics line: ${stdout.slice(-300)}`);
  return { transmitted: Number(stats[1]), received: Number(stats[2]), replySeqs, rttsMs };
}

/** `count` pings every `intervalS` seconds from `from` to `to`; never throws on loss. */
export async function ping(from: Endpoint, to: Endpoint, count: number, intervalS: number): Promise<PingOutcome> {
  checkPair(from, to);
  if (!Number.isInteger(count) || count < 1 || count > 10000) throw new Error(`ping count ${count} must be 1..10000`);
  if (!(intervalS >= 0.01 && intervalS <= 1)) throw new Error(`ping interval ${intervalS} must be 0.01..1 s`);
  const r = await execa('ip', ['netns', 'exec', from.netns, 'ping', '-n', '-c', String(count), '-i', String(intervalS), '-W', '1', to.ip], {
    reject: false, timeout: (count * intervalS + 10) * 1000,
  });
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`ping from ${from.key} to ${to.key} (${to.ip}) failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  return parsePing(r.stdout);
}

/** Median RTT in ms of one ping run; throws when more than a tenth of the pings are lost. */
export async function medianRttMs(from: Endpoint, to: Endpoint, count = 30): Promise<number> {
  const p = await ping(from, to, count, 0.05);
  if (p.received < p.transmitted * 0.9) throw new Error(`ping from ${from.key} to ${to.key} (${to.ip}) lost ${p.transmitted - p.received} of ${p.transmitted}: the datapath does not forward reliably`);
  return median(p.rttsMs);
}

/** Single-stream TCP goodput from `from` to `to` in Gbit/s (iperf3 -t 5 -O 1 -J). */
export async function tcpGbps(from: Endpoint, to: Endpoint): Promise<number> {
  checkPair(from, to);
  const r = await iperfTcp({ serverNs: to.netns, serverIp: to.ip, clientNs: from.netns, seconds: 4 });
  return r.bitsPerSecond / 1e9;
}

/** A few pings until one is answered (ARP and VTEP neighbours resolved); throws after `tries`. */
export async function warmUp(from: Endpoint, to: Endpoint, tries = 20): Promise<void> {
  for (let i = 0; i < tries; i++) {
    const p = await ping(from, to, 1, 0.2);
    if (p.received === 1) return;
  }
  throw new Error(`no ping reply from ${to.key} (${to.ip}) to ${from.key} after ${tries} tries: the path does not work`);
}
