// Validation of every value that reaches the kernel or a spawned command. Each check throws a
// PodNetError('INVALID_ARGUMENT') naming the field, the bad value and what is expected.
import { isAbsolute, normalize } from 'node:path';
import { PodNetError } from './errors.js';

function invalid(field: string, value: unknown, expected: string): never {
  throw new PodNetError('INVALID_ARGUMENT', `${field} ${JSON.stringify(value)} is invalid: expected ${expected}`);
}

/** Linux interface name: 1..15 chars, starts alphanumeric (never an option like "-x"), [A-Za-z0-9_.-]. */
export function validateIfname(field: string, name: unknown): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(name)) {
    invalid(field, name, '1-15 characters [A-Za-z0-9_.-] starting with a letter or digit');
  }
  return name;
}

export const MTU_MIN = 68;
export const MTU_MAX = 65535;

export function validateMtu(field: string, mtu: unknown): number {
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < MTU_MIN || mtu > MTU_MAX) {
    invalid(field, mtu, `an integer in ${MTU_MIN}..${MTU_MAX}`);
  }
  return mtu;
}

/** Unicast Ethernet MAC "aa:bb:cc:dd:ee:ff" (returned lower-case). */
export function validateMac(field: string, mac: unknown): string {
  if (typeof mac !== 'string' || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) {
    invalid(field, mac, 'a MAC address like 0a:58:0a:f4:01:05');
  }
  const bytes = macToBytes(mac);
  if ((bytes[0]! & 0x01) !== 0) invalid(field, mac, 'a unicast MAC (lowest bit of the first byte clear)');
  if (bytes.every((b) => b === 0)) invalid(field, mac, 'a non-zero MAC');
  return mac.toLowerCase();
}

export function macToBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function bytesToMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Dotted-quad IPv4 to a 32-bit unsigned number, or undefined when malformed. */
export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  if (m.slice(1).some((o) => o.length > 1 && o.startsWith('0'))) return undefined; // no octal-looking octets
  return ((octets[0]! << 24) >>> 0) + (octets[1]! << 16) + (octets[2]! << 8) + octets[3]!;
}

export function validateIpv4(field: string, ip: unknown): string {
  if (typeof ip !== 'string' || parseIpv4(ip) === undefined) invalid(field, ip, 'an IPv4 address like 10.244.1.1');
  return ip;
}

export interface Ipv4Cidr {
  ip: string;
  prefixLength: number;
}

/** "10.244.1.5/24": a host address (not the subnet's network or broadcast address) with its prefix. */
export function validateCidr(field: string, cidr: unknown): Ipv4Cidr {
  const m = typeof cidr === 'string' ? /^([0-9.]+)\/(\d{1,2})$/.exec(cidr) : null;
  const ipNum = m ? parseIpv4(m[1]!) : undefined;
  const prefixLength = m ? Number(m[2]) : NaN;
  if (!m || ipNum === undefined || prefixLength < 1 || prefixLength > 32) {
    invalid(field, cidr, 'an IPv4 CIDR like 10.244.1.5/24 (prefix 1..32)');
  }
  if (prefixLength < 31) {
    const hostMask = 2 ** (32 - prefixLength) - 1;
    const host = ipNum % (hostMask + 1);
    if (host === 0 || host === hostMask) invalid(field, cidr, 'a host address, not the network or broadcast address');
  }
  return { ip: m[1]!, prefixLength };
}

/** True when `ip` lies inside the subnet of `cidr`. */
export function inSubnet(cidr: Ipv4Cidr, ip: string): boolean {
  const a = parseIpv4(cidr.ip);
  const b = parseIpv4(ip);
  if (a === undefined || b === undefined) return false;
  const size = 2 ** (32 - cidr.prefixLength);
  return Math.floor(a / size) === Math.floor(b / size);
}

/** The gateway must be a valid IPv4 address, inside the pod's subnet and not the pod's own address. */
export function validateGateway(field: string, gateway: unknown, address: Ipv4Cidr): string {
  const gw = validateIpv4(field, gateway);
  if (gw === address.ip) invalid(field, gateway, `an address different from the pod address ${address.ip}`);
  if (!inSubnet(address, gw)) invalid(field, gateway, `an address inside ${address.ip}/${address.prefixLength}`);
  return gw;
}

/** Netns path: absolute, normalised (no "..", no "//"), printable, e.g. /var/run/netns/cni-1234 or /proc/42/ns/net. */
export function validateNetnsPath(field: string, path: unknown): string {
  if (
    typeof path !== 'string' ||
    path.length === 0 ||
    path.length > 4095 ||
    !isAbsolute(path) ||
    normalize(path) !== path ||
    // eslint-disable-next-line no-control-regex
    /[\x00-\x1f\x7f]/.test(path)
  ) {
    invalid(field, path, 'an absolute, normalised path to a network namespace such as /var/run/netns/NAME');
  }
  return path;
}

/** Container id as sent in CNI_CONTAINERID: non-empty printable text without whitespace. */
export function validateContainerId(field: string, id: unknown): string {
  if (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.+-]{0,254}$/.test(id)) {
    invalid(field, id, 'a container id: 1-255 characters [A-Za-z0-9_.+-] starting with a letter or digit');
  }
  return id;
}
