// What a Loom node holds, read from the outside (IPAM file, OVSDB, OpenFlow, kernel links), so the
// reliability tests can prove that nothing leaked and nothing is held twice.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeCookie, CookieKind } from '../../../src/pipeline/cookie.js';
import { podAttachmentKey, podCookieId } from '../../../src/pipeline/pipeline.js';
import { hostVethName } from '../../../src/podnet/naming.js';
import type { AgentNode } from '../../support/agent-node.js';
import { nsExec } from '../../support/netns.js';

export interface IpamOwner {
  containerId: string;
  ifname: string;
}

export interface LoomPort {
  name: string;
  containerId: string;
  ifname: string;
  ip: string;
}

export interface NodeState {
  /** ip -> owner, from the agent's IPAM file */
  allocations: Map<string, IpamOwner>;
  /** OVS interfaces carrying Loom's external_ids */
  loomPorts: LoomPort[];
  /** object ids of installed flows with the Pod cookie kind */
  podCookieIds: Set<number>;
  /** host-side veths (lm*) in the node namespace */
  hostVeths: string[];
  /** rows of the OVSDB QoS table */
  qosRows: number;
}

export interface AttachmentRef {
  containerId: string;
  ifname: string;
}

export async function ipamAllocations(node: AgentNode): Promise<Map<string, IpamOwner>> {
  const text = await readFile(join(node.dir, 'state', 'ipam.json'), 'utf8');
  const parsed = JSON.parse(text) as { allocations: Record<string, IpamOwner> };
  return new Map(Object.entries(parsed.allocations).map(([ip, o]) => [ip, { containerId: o.containerId, ifname: o.ifname }]));
}

type OvsdbCell = [string, unknown] | string | number;

/** OVSDB JSON output: {"headings": [...], "data": [[cell, ...], ...]}; maps are ["map", [[k, v], ...]]. */
function ovsMap(cell: OvsdbCell): Record<string, string> {
  if (!Array.isArray(cell) || cell[0] !== 'map' || !Array.isArray(cell[1])) return {};
  return Object.fromEntries((cell[1] as Array<[string, string]>).map(([k, v]) => [k, v]));
}

export async function loomPorts(node: AgentNode): Promise<LoomPort[]> {
  const r = await nsExec(node.netns, 'ovs-vsctl', [`--db=${node.ovs.dbSock}`, '--format=json', '--columns=name,external_ids', 'list', 'Interface']);
  const table = JSON.parse(r.stdout) as { data: OvsdbCell[][] };
  const out: LoomPort[] = [];
  for (const [name, ids] of table.data) {
    const e = ovsMap(ids!);
    const containerId = e['loom-container-id'];
    if (containerId === undefined) continue;
    out.push({ name: String(name), containerId, ifname: e['loom-ifname'] ?? '', ip: e['loom-ip'] ?? '' });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export async function qosRows(node: AgentNode): Promise<number> {
  const r = await nsExec(node.netns, 'ovs-vsctl', [`--db=${node.ovs.dbSock}`, '--format=json', '--columns=_uuid', 'list', 'QoS']);
  return (JSON.parse(r.stdout) as { data: unknown[] }).data.length;
}

export async function podCookieIds(node: AgentNode): Promise<Set<number>> {
  const r = await nsExec(node.netns, 'ovs-ofctl', ['dump-flows', '--no-stats', node.ovs.mgmt('br-int')]);
  const ids = new Set<number>();
  for (const m of r.stdout.matchAll(/cookie=0x([0-9a-f]+)/g)) {
    const c = decodeCookie(BigInt(`0x${m[1]}`));
    if (c.loom && c.kind === CookieKind.Pod) ids.add(c.id);
  }
  return ids;
}

export async function hostVeths(node: AgentNode): Promise<string[]> {
  const r = await nsExec(node.netns, 'ip', ['-o', 'link', 'show', 'type', 'veth']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter((n) => n.startsWith('lm'))
    .sort();
}

export async function nodeState(node: AgentNode): Promise<NodeState> {
  const [allocations, ports, cookies, veths, qos] = await Promise.all([
    ipamAllocations(node),
    loomPorts(node),
    podCookieIds(node),
    hostVeths(node),
    qosRows(node),
  ]);
  return { allocations, loomPorts: ports, podCookieIds: cookies, hostVeths: veths, qosRows: qos };
}

/** Everything the node holds that does not belong to one of `valid`; empty when the node is clean. */
export function leaksOf(state: NodeState, valid: AttachmentRef[]): string[] {
  const keys = new Set(valid.map((v) => podAttachmentKey(v.containerId, v.ifname)));
  const veths = new Set(valid.map((v) => hostVethName(v.containerId, v.ifname)));
  const cookies = new Set(valid.map((v) => podCookieId(podAttachmentKey(v.containerId, v.ifname))));
  const leaks: string[] = [];
  for (const [ip, o] of state.allocations) if (!keys.has(podAttachmentKey(o.containerId, o.ifname))) leaks.push(`IP ${ip} held by ${o.containerId}/${o.ifname}`);
  for (const p of state.loomPorts) if (!keys.has(podAttachmentKey(p.containerId, p.ifname))) leaks.push(`OVS port ${p.name} of ${p.containerId}/${p.ifname}`);
  for (const v of state.hostVeths) if (!veths.has(v)) leaks.push(`veth ${v}`);
  for (const id of state.podCookieIds) if (!cookies.has(id)) leaks.push(`pod flows with cookie id ${id.toString(16)}`);
  return leaks;
}

/** What `valid` should have but the node lacks (port, IP, veth, flows). */
export function missingOf(state: NodeState, valid: AttachmentRef[]): string[] {
  const missing: string[] = [];
  const allocated = new Set([...state.allocations.values()].map((o) => podAttachmentKey(o.containerId, o.ifname)));
  const ported = new Set(state.loomPorts.map((p) => podAttachmentKey(p.containerId, p.ifname)));
  for (const v of valid) {
    const key = podAttachmentKey(v.containerId, v.ifname);
    if (!allocated.has(key)) missing.push(`IP of ${key}`);
    if (!ported.has(key)) missing.push(`OVS port of ${key}`);
    if (!state.hostVeths.includes(hostVethName(v.containerId, v.ifname))) missing.push(`veth of ${key}`);
    if (!state.podCookieIds.has(podCookieId(key))) missing.push(`flows of ${key}`);
  }
  return missing;
}

/** No IP is allocated to two owners, and no two OVS ports claim the same IP. */
export function assertNoDuplicateIps(state: NodeState): void {
  const owners = new Map<string, string>();
  for (const [ip, o] of state.allocations) {
    const key = podAttachmentKey(o.containerId, o.ifname);
    for (const [otherIp, otherKey] of owners) assert.ok(!(otherKey === key && otherIp !== ip), `${key} holds two IPs: ${otherIp} and ${ip}`);
    owners.set(ip, key);
  }
  const byIp = new Map<string, string>();
  for (const p of state.loomPorts) {
    const prev = byIp.get(p.ip);
    assert.equal(prev, undefined, `IP ${p.ip} is on two OVS ports: ${prev} and ${p.name}`);
    byIp.set(p.ip, p.name);
  }
}

export async function assertClean(node: AgentNode, valid: AttachmentRef[]): Promise<NodeState> {
  const state = await nodeState(node);
  assert.deepEqual(leaksOf(state, valid), [], 'nothing may be left behind');
  assert.deepEqual(missingOf(state, valid), [], 'every live attachment must be complete');
  assertNoDuplicateIps(state);
  return state;
}

/** Pid of the loom-agent process running in the node's namespace (undefined when none). */
export async function agentPid(node: AgentNode): Promise<number | undefined> {
  const r = await execa('ip', ['netns', 'pids', node.netns], { reject: false });
  for (const s of r.stdout.split('\n')) {
    const pid = Number(s.trim());
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('loom-agent')) return pid;
  }
  return undefined;
}

export async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) : 0;
}
