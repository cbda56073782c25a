// CNI specification types shared by loom-cni and loom-agent (CNI 1.1.0, SPEC.md).
// This file must only use TypeScript types and plain values: it is bundled into the
// CNI executable, which may only depend on Node built-ins.

export const CNI_SPEC_VERSION = '1.1.0';
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];

export const CNI_COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type CniCommand = (typeof CNI_COMMANDS)[number];

/** Well-known CNI error codes (SPEC.md "Error"). Plugin-specific codes start at 100. */
export const CniErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnv: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  PluginNotAvailableLimitedConnectivity: 51,
  // Loom-specific codes (documented in docs/cni-errors.md).
  IpamExhausted: 100,
  DatapathFailure: 101,
  PolicyNotRealized: 102,
  InvalidBandwidth: 103,
  CheckFailed: 104,
} as const;
export type CniErrorCodeValue = (typeof CniErrorCode)[keyof typeof CniErrorCode];

export interface CniErrorObject {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}

export interface CniIpConfig {
  /** CIDR notation, e.g. 10.244.1.5/24 */
  address: string;
  gateway?: string;
  /** index into interfaces[] */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** Result in the 1.x / 0.4 / 0.3 shape (the `version` field of ips is added for 0.3.x). */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: Array<CniIpConfig & { version?: '4' | '6' }>;
  routes?: CniRoute[];
  dns?: CniDns;
}

export interface CniVersionResult {
  cniVersion: string;
  supportedVersions: string[];
}

/** The bandwidth capability as runtimes send it (keys matched case-insensitively). */
export interface BandwidthRuntimeConfig {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: string;
  hostIP?: string;
}

export interface ValidAttachment {
  containerID: string;
  ifname: string;
}

/** Loom's network configuration (one entry of a conflist's plugins[] or a single .conf). */
export interface LoomNetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** Path of the agent's socket; default /var/run/loom/cni.sock. */
  socketPath?: string;
  capabilities?: Record<string, boolean>;
  runtimeConfig?: Record<string, unknown>;
  prevResult?: unknown;
  args?: Record<string, unknown>;
  'cni.dev/valid-attachments'?: ValidAttachment[];
  [key: string]: unknown;
}

export const DEFAULT_SOCKET_PATH = '/var/run/loom/cni.sock';

export function isSupportedVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/**
 * Parse CNI_ARGS ("K1=V1;K2=V2", any order). Returns null on a malformed pair.
 * Empty string yields an empty map.
 */
export function parseCniArgs(raw: string | undefined): Map<string, string> | null {
  const out = new Map<string, string>();
  if (!raw) return out;
  for (const part of raw.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return null;
    out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

/** Look a key up in an object case-insensitively (containerd sends PascalCase, podman camelCase). */
export function getCaseInsensitive(obj: unknown, key: string): unknown {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  const want = key.toLowerCase();
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (k.toLowerCase() === want) return v;
  }
  return undefined;
}
