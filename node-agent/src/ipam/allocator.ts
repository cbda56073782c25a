// Pure IPAM decisions over a pod subnet. State is a plain value; every function returns a new one.
// Allocations are keyed by attachment (container id + ifname) so a retried ADD gets the same IP.
import { cidrContains, formatIpv4, gatewayOf, parseCidr, parseIpv4, type Ipv4Cidr } from '../util/ipv4.js';

export interface AllocationOwner {
  containerId: string;
  ifname: string;
  podNamespace?: string;
  podName?: string;
  podUid?: string;
}

export interface IpamState {
  version: 1;
  podCidr: string;
  /** IP -> owner */
  allocations: Record<string, AllocationOwner>;
  /** last IP handed out; allocation continues after it so freed IPs are not reused at once */
  lastAllocated?: string;
}

export class IpamError extends Error {
  constructor(
    message: string,
    readonly reason: 'exhausted' | 'invalid',
  ) {
    super(message);
  }
}

export function emptyIpamState(podCidr: string): IpamState {
  if (!parseCidr(podCidr)) throw new IpamError(`invalid pod CIDR ${JSON.stringify(podCidr)}`, 'invalid');
  return { version: 1, podCidr, allocations: {} };
}

const sameOwner = (a: AllocationOwner, b: { containerId: string; ifname: string }) =>
  a.containerId === b.containerId && a.ifname === b.ifname;

export function findByOwner(state: IpamState, containerId: string, ifname: string): string | undefined {
  for (const [ip, owner] of Object.entries(state.allocations)) {
    if (sameOwner(owner, { containerId, ifname })) return ip;
  }
  return undefined;
}

/** Usable host range of the subnet: excludes network, gateway and broadcast addresses. */
function usableRange(c: Ipv4Cidr): [number, number] {
  if (c.prefix >= 31) throw new IpamError(`pod CIDR /${c.prefix} is too small for pods (need /30 or larger)`, 'invalid');
  return [gatewayOf(c) + 1, c.network + c.size - 2];
}

/**
 * Allocate an IP for the owner. Idempotent: an owner that already holds an IP in this subnet gets it
 * back. Throws IpamError('exhausted') when the subnet is full.
 */
export function allocate(state: IpamState, owner: AllocationOwner): { state: IpamState; ip: string } {
  const cidr = parseCidr(state.podCidr);
  if (!cidr) throw new IpamError(`invalid pod CIDR ${state.podCidr}`, 'invalid');
  const existing = findByOwner(state, owner.containerId, owner.ifname);
  if (existing !== undefined && cidrContains(cidr, parseIpv4(existing)!)) return { state, ip: existing };

  const [first, last] = usableRange(cidr);
  const total = last - first + 1;
  const lastIp = state.lastAllocated !== undefined ? parseIpv4(state.lastAllocated) : null;
  const start = lastIp !== null && lastIp >= first && lastIp <= last ? lastIp + 1 : first;
  for (let i = 0; i < total; i++) {
    const candidate = first + ((start - first + i) % total);
    const ip = formatIpv4(candidate);
    if (state.allocations[ip] === undefined) {
      return {
        ip,
        state: { ...state, allocations: { ...state.allocations, [ip]: { ...owner } }, lastAllocated: ip },
      };
    }
  }
  throw new IpamError(
    `no free IP left in pod CIDR ${state.podCidr} (${total} addresses, all allocated): delete unused pods or give the node a larger podCIDR`,
    'exhausted',
  );
}

/** Release whatever the owner holds. Idempotent. */
export function releaseOwner(state: IpamState, containerId: string, ifname: string): { state: IpamState; released: string[] } {
  const released: string[] = [];
  const allocations: Record<string, AllocationOwner> = {};
  for (const [ip, owner] of Object.entries(state.allocations)) {
    if (sameOwner(owner, { containerId, ifname })) released.push(ip);
    else allocations[ip] = owner;
  }
  return released.length === 0 ? { state, released } : { state: { ...state, allocations }, released };
}

/** Record an allocation found elsewhere (e.g. an OVS port at restart). Fails if the IP has another owner. */
export function adopt(state: IpamState, ip: string, owner: AllocationOwner): IpamState {
  const current = state.allocations[ip];
  if (current && !sameOwner(current, owner)) {
    throw new IpamError(`IP ${ip} is held by ${current.containerId}/${current.ifname}, cannot adopt it for ${owner.containerId}/${owner.ifname}`, 'invalid');
  }
  return { ...state, allocations: { ...state.allocations, [ip]: { ...owner } } };
}

/** Move to a new pod CIDR keeping allocations (those outside it can still be released). */
export function withPodCidr(state: IpamState, podCidr: string): IpamState {
  if (!parseCidr(podCidr)) throw new IpamError(`invalid pod CIDR ${JSON.stringify(podCidr)}`, 'invalid');
  return state.podCidr === podCidr ? state : { ...state, podCidr, lastAllocated: undefined };
}

export function validateIpamState(v: unknown): IpamState {
  const bad = (why: string) => new IpamError(`IPAM state file is invalid: ${why}`, 'invalid');
  if (v === null || typeof v !== 'object') throw bad('not an object');
  const o = v as Record<string, unknown>;
  if (o.version !== 1) throw bad(`unsupported version ${JSON.stringify(o.version)}`);
  if (typeof o.podCidr !== 'string' || !parseCidr(o.podCidr)) throw bad('podCidr');
  if (o.allocations === null || typeof o.allocations !== 'object') throw bad('allocations');
  const allocations: Record<string, AllocationOwner> = {};
  for (const [ip, owner] of Object.entries(o.allocations as Record<string, unknown>)) {
    if (parseIpv4(ip) === null) throw bad(`allocation key ${ip} is not an IPv4 address`);
    const ow = owner as Record<string, unknown>;
    if (!ow || typeof ow.containerId !== 'string' || typeof ow.ifname !== 'string') throw bad(`owner of ${ip}`);
    allocations[ip] = ow as unknown as AllocationOwner;
  }
  const lastAllocated = typeof o.lastAllocated === 'string' ? o.lastAllocated : undefined;
  return { version: 1, podCidr: o.podCidr, allocations, lastAllocated };
}
