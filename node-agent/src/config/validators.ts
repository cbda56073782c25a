// Small pure checks for config values.
import { isIPv4 } from 'node:net';

export interface Ipv4Cidr {
  /** Network address as an unsigned 32-bit integer. */
  network: number;
  prefixLength: number;
}

export function ipv4ToInt(address: string): number {
  return address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function isIpv4Address(value: string): boolean {
  return isIPv4(value);
}

/** Parses "a.b.c.d/n"; undefined if malformed or if host bits are set (10.244.1.5/24). */
export function parseIpv4Cidr(value: string): Ipv4Cidr | undefined {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(value);
  if (!match || !isIPv4(match[1]!)) return undefined;
  const prefixLength = Number(match[2]);
  if (prefixLength > 32) return undefined;
  const address = ipv4ToInt(match[1]!);
  const size = 2 ** (32 - prefixLength);
  if (address % size !== 0) return undefined;
  return { network: address, prefixLength };
}

export function cidrContains(outer: Ipv4Cidr, inner: Ipv4Cidr): boolean {
  if (inner.prefixLength < outer.prefixLength) return false;
  const size = 2 ** (32 - outer.prefixLength);
  return Math.floor(inner.network / size) === Math.floor(outer.network / size);
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** Linux interface names: 1..15 characters of [A-Za-z0-9_.-]. */
export function isInterfaceName(value: string): boolean {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(value) && value !== '.' && value !== '..';
}

export function isAbsolutePath(value: string): boolean {
  return value.startsWith('/') && !value.includes('\0') && !value.split('/').includes('..');
}

/** A plain file name (no directory part). */
export function isFileName(value: string): boolean {
  return /^[A-Za-z0-9_.-]{1,255}$/.test(value) && value !== '.' && value !== '..';
}

/** RFC 1123 DNS subdomain, as Kubernetes requires for Node names. */
export function isDnsSubdomain(value: string): boolean {
  return value.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(value);
}

/** OVSDB remotes the agent can use: unix:/abs/path or tcp:IPv4:PORT. */
export function isOvsdbRemote(value: string): boolean {
  if (value.startsWith('unix:')) return isAbsolutePath(value.slice(5));
  const tcp = /^tcp:([^:]+):(\d{1,5})$/.exec(value);
  return tcp !== null && isIPv4(tcp[1]!) && Number(tcp[2]) >= 1 && Number(tcp[2]) <= 65535;
}
