// IPv4 CIDR arithmetic (ipBlock.except as a set difference) and port ranges as value/mask matches.

export class CidrError extends Error {}

/** An IPv4 prefix; `base` is the network address as an unsigned 32-bit number (host bits zero). */
export interface Cidr {
  base: number;
  len: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parse a dotted IPv4 address; undefined when it is not one. */
export function parseIPv4(text: string): number | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] as string;
    if (part.length > 1 && part.startsWith('0')) return undefined; // no octal-looking octets
    const o = Number(part);
    if (o > 255) return undefined;
    n = n * 256 + o;
  }
  return n;
}

export function isIPv4(text: string): boolean {
  return parseIPv4(text) !== undefined;
}

export function isIPv6(text: string): boolean {
  return text.includes(':');
}

export function formatIPv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/**
 * Parse "a.b.c.d/len" (or a bare address, as /32). Host bits are cleared, as Go's net.ParseCIDR
 * does for the network the API server stores. Throws CidrError with the offending text.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? '32' : text.slice(slash + 1);
  const ip = parseIPv4(addr);
  if (ip === undefined) {
    throw new CidrError(`"${text}" is not an IPv4 CIDR (expected a.b.c.d/len${isIPv6(text) ? '; IPv6 is not supported' : ''})`);
  }
  if (!/^\d{1,2}$/.test(lenText) || Number(lenText) > 32) {
    throw new CidrError(`"${text}": prefix length must be 0..32`);
  }
  const len = Number(lenText);
  return { base: (ip & maskOf(len)) >>> 0, len };
}

/** "a.b.c.d/len"; a /32 is written as a bare address (how OVS prints host matches). */
export function formatCidr(c: Cidr): string {
  return c.len === 32 ? formatIPv4(c.base) : `${formatIPv4(c.base)}/${c.len}`;
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.len <= inner.len && ((inner.base & maskOf(outer.len)) >>> 0) === outer.base;
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

export function cidrContainsIp(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.len)) >>> 0) === c.base;
}

/** Set difference `from \ remove` as a list of disjoint prefixes (minimal for one removed prefix). */
export function subtractCidr(from: Cidr, remove: Cidr): Cidr[] {
  if (cidrContains(remove, from)) return [];
  if (!cidrContains(from, remove)) return [from];
  // remove is strictly inside from: walk down from `from` to `remove`, keeping the sibling halves.
  const out: Cidr[] = [];
  for (let len = from.len + 1; len <= remove.len; len++) {
    const bit = 2 ** (32 - len);
    const onPath = (remove.base & maskOf(len)) >>> 0;
    const sibling = (onPath ^ bit) >>> 0;
    out.push({ base: sibling, len });
  }
  return out;
}

/** `cidr` minus every prefix of `except`: the addresses an ipBlock actually selects. */
export function cidrExcept(cidr: Cidr, except: Cidr[]): Cidr[] {
  let parts = [cidr];
  for (const ex of except) parts = parts.flatMap((p) => subtractCidr(p, ex));
  return parts.sort((a, b) => a.base - b.base || a.len - b.len);
}

export interface PortMask {
  port: number;
  /** absent for an exact port */
  mask?: number;
}

/**
 * Inclusive port range [start, end] as the fewest value/mask matches (at most 2*16 - 2).
 * Throws CidrError on an invalid range.
 */
export function portRangeMasks(start: number, end: number): PortMask[] {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > 65535 || start > end) {
    throw new CidrError(`port range ${start}-${end} is invalid (need 0 <= port <= endPort <= 65535)`);
  }
  const out: PortMask[] = [];
  let p = start;
  while (p <= end) {
    // largest aligned block starting at p that fits in [p, end]
    let size = p === 0 ? 65536 : p & -p;
    while (p + size - 1 > end) size /= 2;
    out.push(size === 1 ? { port: p } : { port: p, mask: (0xffff & ~(size - 1)) >>> 0 });
    p += size;
  }
  return out;
}
