// Validation of every value that reaches an OVS command or OVSDB row. Each check throws an Error that
// names the field, the bad value and what is expected, so nothing malformed reaches OVS (ovs-ofctl, for
// instance, silently turns nw_src=300.1.1.1 into 44.1.1.1).

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** Interface, port and bridge names: what the Linux kernel and OVS accept, without shell-ish surprises. */
const IFNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

export function invalid(what: string, value: unknown, expected: string): Error {
  return new Error(`invalid ${what}: ${JSON.stringify(typeof value === 'bigint' ? value.toString() : value)} (expected ${expected})`);
}

/** Returns the MAC in lower case (the form OVS prints). */
export function checkMac(what: string, mac: string): string {
  if (typeof mac !== 'string' || !MAC_RE.test(mac)) throw invalid(what, mac, 'a MAC address like 0a:58:0a:f4:00:01');
  return mac.toLowerCase();
}

export function isIpv4(ip: string): boolean {
  return typeof ip === 'string' && IPV4_RE.test(ip);
}

export function checkIpv4(what: string, ip: string): string {
  if (!isIpv4(ip)) throw invalid(what, ip, 'a dotted IPv4 address like 10.244.1.5');
  return ip;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => (acc * 256 + Number(part)) >>> 0, 0);
}

function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
}

/**
 * Validates an IPv4 address or CIDR and returns the form OVS prints: host bits cleared, no "/32".
 * Returns null for a /0 prefix (matches everything: the field is left out).
 */
export function canonicalIpv4Cidr(what: string, value: string): string | null {
  if (typeof value !== 'string') throw invalid(what, value, 'an IPv4 address or CIDR');
  const [ip, prefixText, extra] = value.split('/');
  if (extra !== undefined || ip === undefined || !isIpv4(ip)) throw invalid(what, value, 'an IPv4 address or CIDR like 10.244.0.0/16');
  if (prefixText === undefined) return ip;
  if (!/^(3[0-2]|[12]?\d)$/.test(prefixText)) throw invalid(what, value, 'a CIDR prefix length 0..32');
  const prefix = Number(prefixText);
  if (prefix === 0) return null;
  if (prefix === 32) return ip;
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  return `${intToIpv4((ipv4ToInt(ip) & mask) >>> 0)}/${prefix}`;
}

export function checkUint(what: string, value: number, max: number, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(what, value, `an integer in ${min}..${max}`);
  }
  return value;
}

export function checkBigUint(what: string, value: bigint, bits: number): bigint {
  if (typeof value !== 'bigint' || value < 0n || value >= 1n << BigInt(bits)) {
    throw invalid(what, value, `an unsigned ${bits}-bit bigint`);
  }
  return value;
}

/** OpenFlow table ids usable by Loom (OVS has tables 0..254). */
export function checkTable(what: string, table: number): number {
  return checkUint(what, table, 254);
}

/** Physical/logical OpenFlow port numbers (excludes the reserved ports 0xff00 and above). */
export function checkOfPort(what: string, port: number): number {
  return checkUint(what, port, 0xfeff, 1);
}

/** OVS has registers reg0..reg15. */
export function checkReg(what: string, reg: number): number {
  return checkUint(what, reg, 15);
}

export function checkIfName(what: string, name: string): string {
  if (typeof name !== 'string' || !IFNAME_RE.test(name)) {
    throw invalid(what, name, '1-15 characters of [A-Za-z0-9_.-], not starting with a punctuation mark');
  }
  return name;
}

/** Bit range [start, end] of a 32-bit register; returns the mask (unshifted width) and start. */
export function checkBits(what: string, bits: [number, number]): { start: number; width: number } {
  if (!Array.isArray(bits) || bits.length !== 2) throw invalid(what, bits, '[start, end] with 0 <= start <= end <= 31');
  const [start, end] = bits;
  checkUint(`${what} start`, start, 31);
  checkUint(`${what} end`, end, 31);
  if (end < start) throw invalid(what, bits, '[start, end] with start <= end');
  return { start, width: end - start + 1 };
}

/** Strings stored in OVSDB maps (external_ids, other_config, options): printable, bounded. */
export function checkOvsdbString(what: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || value.length > 1024 || /[\u0000-\u001f]/.test(value)) {
    throw invalid(what, value, 'a string of at most 1024 characters without control characters');
  }
  return value;
}

export function checkStringMap(what: string, map: Record<string, string>): Record<string, string> {
  if (map === null || typeof map !== 'object') throw invalid(what, map, 'an object of string keys and values');
  for (const [k, v] of Object.entries(map)) {
    if (k.length === 0) throw invalid(`${what} key`, k, 'a non-empty key');
    checkOvsdbString(`${what} key`, k);
    checkOvsdbString(`${what}[${k}]`, v);
  }
  return map;
}
