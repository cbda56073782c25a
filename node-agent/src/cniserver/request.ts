// Turns a shim request (env + raw stdin) into a validated, typed CNI call. Everything that later
// reaches a command or OVS is checked here first.
import { isAbsolute } from 'node:path';
import { SHIM_PROTOCOL_VERSION } from '../../../cni-binary/src/protocol.js';
import {
  CNI_COMMANDS,
  CniErrorCode,
  getCaseInsensitive,
  isSupportedVersion,
  parseCniArgs,
  SUPPORTED_VERSIONS,
  type BandwidthRuntimeConfig,
  type CniCommand,
  type LoomNetConf,
  type ValidAttachment,
} from '../../../cni-binary/src/spec.js';
import { CniError, invalidConfig, invalidEnv } from './errors.js';

export interface K8sPodRef {
  namespace: string;
  name: string;
  uid?: string;
  infraContainerId?: string;
}

export interface CniCall {
  command: CniCommand;
  cniVersion: string;
  config: LoomNetConf;
  containerId: string;
  ifname: string;
  /** empty for DEL after the sandbox is gone */
  netns: string;
  pod?: K8sPodRef;
  bandwidth?: BandwidthRuntimeConfig;
  /** GC only */
  validAttachments?: ValidAttachment[];
}

// Starts with a letter or digit so no value can look like a command-line option.
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
// Kubernetes names: DNS-1123 subdomain / label; uid: UUID-ish.
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const K8S_UID = /^[A-Za-z0-9-]{1,64}$/;

export function checkContainerId(v: string | undefined): string {
  if (!v || !CONTAINER_ID.test(v)) throw invalidEnv(`CNI_CONTAINERID ${JSON.stringify(v ?? '')} is invalid: expected 1-128 characters of [A-Za-z0-9_.-] starting with a letter or digit`);
  return v;
}

export function checkIfname(v: string | undefined): string {
  if (!v || !IFNAME.test(v) || v === '.' || v === '..') throw invalidEnv(`CNI_IFNAME ${JSON.stringify(v ?? '')} is invalid: expected an interface name of 1-15 characters of [A-Za-z0-9_.-] starting with a letter or digit`);
  return v;
}

function checkNetns(v: string | undefined, required: boolean): string {
  if (!v) {
    if (required) throw invalidEnv('CNI_NETNS is required for this command: it must be the path of the pod network namespace');
    return '';
  }
  if (!isAbsolute(v) || v.includes('\0') || v.split('/').includes('..') || v.length > 4096) {
    throw invalidEnv(`CNI_NETNS ${JSON.stringify(v)} is invalid: expected an absolute path to a network namespace`);
  }
  return v;
}

function parsePodRef(rawArgs: string | undefined): K8sPodRef | undefined {
  const args = parseCniArgs(rawArgs);
  if (!args) throw invalidEnv(`CNI_ARGS ${JSON.stringify(rawArgs)} is malformed: expected KEY=VALUE pairs separated by ';'`);
  const namespace = args.get('K8S_POD_NAMESPACE');
  const name = args.get('K8S_POD_NAME');
  if (namespace === undefined && name === undefined) return undefined;
  if (!namespace || !K8S_NAME.test(namespace)) throw invalidEnv(`CNI_ARGS K8S_POD_NAMESPACE ${JSON.stringify(namespace ?? '')} is not a valid namespace name`);
  if (!name || !K8S_NAME.test(name)) throw invalidEnv(`CNI_ARGS K8S_POD_NAME ${JSON.stringify(name ?? '')} is not a valid pod name`);
  const uid = args.get('K8S_POD_UID');
  if (uid !== undefined && uid !== '' && !K8S_UID.test(uid)) throw invalidEnv(`CNI_ARGS K8S_POD_UID ${JSON.stringify(uid)} is invalid`);
  const infra = args.get('K8S_POD_INFRA_CONTAINER_ID');
  if (infra !== undefined && infra !== '' && !CONTAINER_ID.test(infra)) throw invalidEnv(`CNI_ARGS K8S_POD_INFRA_CONTAINER_ID is invalid`);
  return { namespace, name, ...(uid ? { uid } : {}), ...(infra ? { infraContainerId: infra } : {}) };
}

function parseBandwidth(runtimeConfig: unknown): BandwidthRuntimeConfig | undefined {
  const bw = getCaseInsensitive(runtimeConfig, 'bandwidth');
  if (bw === undefined || bw === null) return undefined;
  if (typeof bw !== 'object' || Array.isArray(bw)) throw invalidConfig('runtimeConfig.bandwidth must be an object');
  const out: BandwidthRuntimeConfig = {};
  for (const k of ['ingressRate', 'ingressBurst', 'egressRate', 'egressBurst'] as const) {
    const v = getCaseInsensitive(bw, k);
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || !Number.isInteger(v)) {
      throw new CniError(CniErrorCode.InvalidBandwidth, `runtimeConfig.bandwidth.${k} ${JSON.stringify(v)} is invalid: expected a non-negative integer (bits per second or bits)`);
    }
    out[k] = v;
  }
  return out;
}

function parseValidAttachments(config: Record<string, unknown>): ValidAttachment[] {
  const raw = config['cni.dev/valid-attachments'];
  if (raw === undefined) throw invalidConfig('GC needs "cni.dev/valid-attachments" in the configuration (use [] to remove every attachment)');
  if (!Array.isArray(raw)) throw invalidConfig('"cni.dev/valid-attachments" must be an array');
  return raw.map((a, i) => {
    const containerID = getCaseInsensitive(a, 'containerID');
    const ifname = getCaseInsensitive(a, 'ifname');
    if (typeof containerID !== 'string' || typeof ifname !== 'string') {
      throw invalidConfig(`"cni.dev/valid-attachments"[${i}] must be {"containerID": string, "ifname": string}`);
    }
    return { containerID, ifname };
  });
}

/** Parse the network configuration (a single plugin entry, as the runtime passes it). */
export function parseNetConf(stdin: string): LoomNetConf {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(CniErrorCode.DecodeFailure, `network configuration is not valid JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CniError(CniErrorCode.DecodeFailure, 'network configuration must be a JSON object');
  }
  const c = parsed as Record<string, unknown>;
  if (!isSupportedVersion(c.cniVersion)) {
    throw new CniError(
      CniErrorCode.IncompatibleVersion,
      `cniVersion ${JSON.stringify(c.cniVersion)} is not supported: use one of ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  for (const f of ['name', 'type'] as const) {
    if (typeof c[f] !== 'string' || c[f] === '') throw invalidConfig(`network configuration field "${f}" must be a non-empty string`);
  }
  if (c.runtimeConfig !== undefined && (c.runtimeConfig === null || typeof c.runtimeConfig !== 'object' || Array.isArray(c.runtimeConfig))) {
    throw invalidConfig('runtimeConfig must be an object');
  }
  return c as LoomNetConf;
}

/** Validate a whole shim request. Throws CniError with the right code. */
export function parseShimRequest(body: unknown): CniCall {
  if (body === null || typeof body !== 'object') throw new CniError(CniErrorCode.DecodeFailure, 'request body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (b.protocolVersion !== SHIM_PROTOCOL_VERSION) {
    throw new CniError(
      CniErrorCode.IncompatibleVersion,
      `loom-cni speaks protocol version ${JSON.stringify(b.protocolVersion)} but this loom-agent speaks ${SHIM_PROTOCOL_VERSION}: install the loom-cni binary that ships with this agent`,
    );
  }
  const env = (b.env ?? {}) as Record<string, unknown>;
  const str = (k: string) => (typeof env[k] === 'string' ? (env[k] as string) : undefined);
  const command = str('CNI_COMMAND');
  if (!command || !(CNI_COMMANDS as readonly string[]).includes(command)) {
    throw invalidEnv(`CNI_COMMAND ${JSON.stringify(command ?? '')} is invalid: expected one of ${CNI_COMMANDS.join(', ')}`);
  }
  if (typeof b.stdin !== 'string') throw new CniError(CniErrorCode.DecodeFailure, 'request stdin must be a string');
  const config = parseNetConf(b.stdin);
  const cmd = command as CniCommand;
  const call: CniCall = { command: cmd, cniVersion: config.cniVersion, config, containerId: '', ifname: '', netns: '' };
  if (cmd === 'ADD' || cmd === 'DEL' || cmd === 'CHECK') {
    call.containerId = checkContainerId(str('CNI_CONTAINERID'));
    call.ifname = checkIfname(str('CNI_IFNAME'));
    call.netns = checkNetns(str('CNI_NETNS'), cmd !== 'DEL');
    const pod = parsePodRef(str('CNI_ARGS'));
    if (pod) call.pod = pod;
    const bandwidth = parseBandwidth(config.runtimeConfig);
    if (bandwidth) call.bandwidth = bandwidth;
  }
  if (cmd === 'GC') call.validAttachments = parseValidAttachments(config);
  return call;
}
