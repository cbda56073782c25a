// Names of everything the harness creates. Every namespace, temp dir and Kubernetes Node name of one
// cluster starts with the cluster's prefix (`loomt-e2e-<run id>-` for tests, `loomt-demo-` for the
// demo), so teardown and the leftover cleanup of the next run can find them.
import { createHash, randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';

/** Prefix roots; cleanup at start removes leftovers under these whose owning process is gone. */
export const E2E_PREFIX_ROOT = 'loomt-e2e-';
export const DEMO_PREFIX_ROOT = 'loomt-demo-';

const PREFIX_RE = /^loomt-[a-z0-9-]{1,30}-$/;
const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A fresh cluster prefix: `loomt-e2e-<4 hex>-`, unique per run so parallel runs never collide. */
export function newClusterPrefix(root = E2E_PREFIX_ROOT): string {
  return `${root}${randomBytes(2).toString('hex')}-`;
}

export function validatePrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix)) {
    throw new Error(`cluster prefix must match ${PREFIX_RE} (e.g. "loomt-e2e-ab12-"), got "${prefix}"`);
  }
  return prefix;
}

export function assertDnsLabel(what: string, value: string): string {
  if (value.length > 63 || !DNS_LABEL_RE.test(value)) {
    throw new Error(`${what} must be a DNS-1123 label (lowercase letters, digits, "-", at most 63), got "${value}"`);
  }
  return value;
}

export function assertIPv4(what: string, value: string): string {
  if (!isIPv4(value)) throw new Error(`${what} must be an IPv4 address, got "${value}"`);
  return value;
}

export function assertPort(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new Error(`${what} must be a port 1..65535, got ${value}`);
  return value;
}

/** Fixed addressing of the simulated cluster (see docs/e2e.md). */
export const UNDERLAY = {
  bridge: 'ul0',
  gatewayIp: '10.0.0.1',
  apiServerIp: '10.0.0.2',
  apiServerPort: 6443,
  prefixLength: 24,
  mtu: 1500,
  clusterCidr: '10.244.0.0/16',
} as const;

export function nodeIp(index: number): string {
  if (!Number.isInteger(index) || index < 1 || index > 200) throw new Error(`node index must be 1..200, got ${index}`);
  return `10.0.0.${10 + index}`;
}

export function nodePodCidr(index: number): string {
  if (!Number.isInteger(index) || index < 1 || index > 254) throw new Error(`node index must be 1..254, got ${index}`);
  return `10.244.${index}.0/24`;
}

export const underlayNetns = (prefix: string): string => `${prefix}ul`;
export const apiNetns = (prefix: string): string => `${prefix}api`;
export const nodeNetns = (prefix: string, index: number): string => `${prefix}n${index}`;

/** Pod sandbox namespace: `<prefix>p-<8 hex of namespace/name>`. */
export function podNetns(prefix: string, namespace: string, name: string): string {
  return `${prefix}p-${createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 8)}`;
}

/** A containerd-style sandbox id: 64 hex characters. */
export function newSandboxId(): string {
  return randomBytes(32).toString('hex');
}
