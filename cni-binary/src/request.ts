// Pure validation of what a runtime hands loom-cni (environment + network configuration)
// and construction of the request forwarded to loom-agent.
import { CniFailure } from './errors.js';
import {
  CNI_COMMANDS,
  CNI_SPEC_VERSION,
  CniErrorCode,
  DEFAULT_SOCKET_PATH,
  SUPPORTED_VERSIONS,
  isSupportedVersion,
  parseCniArgs,
  type CniCommand,
  type CniVersionResult,
  type LoomNetConf,
} from './spec.js';
import { MAX_REQUEST_BYTES, SHIM_PROTOCOL_VERSION, type ShimEnv, type ShimRequest } from './protocol.js';

/** The process environment as loom-cni sees it. */
export type ProcessEnv = Readonly<Record<string, string | undefined>>;

/** Timeout for the agent's answer: ADD/CHECK may wait for IPAM, OVS and policy realization. */
export const ADD_CHECK_TIMEOUT_MS = 120_000;
export const DEFAULT_TIMEOUT_MS = 60_000;

// Starts with a letter or digit so no value can look like a command-line option.
const CONTAINER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const IFNAME_MAX = 15;

const supportedList = SUPPORTED_VERSIONS.join(', ');

/** CNI_COMMAND -> a known verb, else code 4. */
export function parseCommand(raw: string | undefined): CniCommand {
  if (raw === undefined || raw === '') {
    throw new CniFailure(CniErrorCode.InvalidEnv, 'CNI_COMMAND is not set', `expected one of ${CNI_COMMANDS.join(', ')}`);
  }
  const found = CNI_COMMANDS.find((c) => c === raw);
  if (found === undefined) {
    throw new CniFailure(
      CniErrorCode.InvalidEnv,
      `CNI_COMMAND "${truncate(raw)}" is not a known command`,
      `expected one of ${CNI_COMMANDS.join(', ')}`,
    );
  }
  return found;
}

/** The VERSION answer. Never fails: stdin may be empty, invalid, or absent (podman sends dummies). */
export function versionAnswer(stdin: string | undefined): CniVersionResult {
  let cniVersion: string = CNI_SPEC_VERSION;
  if (stdin) {
    try {
      const parsed: unknown = JSON.parse(stdin);
      const v = isPlainObject(parsed) ? parsed['cniVersion'] : undefined;
      if (isSupportedVersion(v)) cniVersion = v;
    } catch {
      // invalid stdin: answer with our default version
    }
  }
  return { cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/** The cniVersion to put in an error object: the config's if readable and supported, else 1.1.0. */
export function errorVersionOf(parsedConfig: unknown): string {
  const v = isPlainObject(parsedConfig) ? parsedConfig['cniVersion'] : undefined;
  return isSupportedVersion(v) ? v : CNI_SPEC_VERSION;
}

/** JSON.parse of stdin; failure is code 6. */
export function decodeJson(stdin: string): unknown {
  try {
    return JSON.parse(stdin) as unknown;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const what = stdin.trim() === '' ? 'stdin is empty' : `stdin is not valid JSON (${why})`;
    throw new CniFailure(CniErrorCode.DecodeFailure, `cannot decode the network configuration: ${what}`,
      'the runtime must pass the network configuration JSON on stdin');
  }
}

/** Check the decoded config has the required fields (7) and a supported cniVersion (1). */
export function validateNetConf(parsed: unknown): LoomNetConf {
  if (!isPlainObject(parsed)) {
    throw new CniFailure(CniErrorCode.InvalidConfig, 'invalid network configuration: it must be a JSON object');
  }
  for (const field of ['cniVersion', 'name', 'type'] as const) {
    const v = parsed[field];
    if (typeof v !== 'string' || v === '') {
      throw new CniFailure(CniErrorCode.InvalidConfig,
        `invalid network configuration: field "${field}" must be a non-empty string`,
        v === undefined ? `"${field}" is missing` : `"${field}" is ${describe(v)}`);
    }
  }
  if (!isSupportedVersion(parsed['cniVersion'])) {
    throw new CniFailure(CniErrorCode.IncompatibleVersion,
      `cniVersion "${truncate(String(parsed['cniVersion']))}" is not supported by loom-cni`,
      `supported versions: ${supportedList}`);
  }
  return parsed as LoomNetConf;
}

/** The agent socket: config `socketPath` (absolute path, else 7) or the default. */
export function resolveSocketPath(conf: LoomNetConf): string {
  const p = conf.socketPath;
  if (p === undefined) return DEFAULT_SOCKET_PATH;
  if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0')) {
    throw new CniFailure(CniErrorCode.InvalidConfig,
      'invalid network configuration: field "socketPath" must be an absolute path string',
      `got ${describe(p)}; omit it to use ${DEFAULT_SOCKET_PATH}`);
  }
  return p;
}

/** Check the CNI_* variables the command needs (code 4) and return exactly those to forward. */
export function validateEnv(command: CniCommand, env: ProcessEnv): ShimEnv {
  const out: ShimEnv = { CNI_COMMAND: command };
  const containerId = env['CNI_CONTAINERID'];
  const ifname = env['CNI_IFNAME'];
  const netns = env['CNI_NETNS'];
  const args = env['CNI_ARGS'];
  const cniPath = env['CNI_PATH'];
  const perContainer = command === 'ADD' || command === 'DEL' || command === 'CHECK';

  if (perContainer) {
    if (!containerId) throw envMissing('CNI_CONTAINERID', command);
    if (!ifname) throw envMissing('CNI_IFNAME', command);
    if (!netns && command !== 'DEL') throw envMissing('CNI_NETNS', command);
    if (!CONTAINER_ID_RE.test(containerId)) {
      throw envInvalid('CNI_CONTAINERID', containerId, '1 to 128 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit');
    }
    if (!isValidIfname(ifname)) {
      throw envInvalid('CNI_IFNAME', ifname, `1 to ${IFNAME_MAX} characters, no "/" or whitespace, not "." or ".."`);
    }
    if (netns && (!netns.startsWith('/') || netns.includes('\0'))) {
      throw envInvalid('CNI_NETNS', netns, 'an absolute path to a network namespace');
    }
    out.CNI_CONTAINERID = containerId;
    out.CNI_IFNAME = ifname;
    if (netns !== undefined) out.CNI_NETNS = netns;
  }
  // STATUS and GC concern the whole network: container variables (if any) are ignored.
  if (args !== undefined) {
    if (parseCniArgs(args) === null) {
      throw envInvalid('CNI_ARGS', args, '"KEY=VALUE" pairs separated by ";"');
    }
    out.CNI_ARGS = args;
  }
  if (cniPath !== undefined) out.CNI_PATH = cniPath;
  return out;
}

export function isValidIfname(name: string): boolean {
  return name.length >= 1 && name.length <= IFNAME_MAX && name !== '.' && name !== '..' &&
    !name.includes('/') && !/[\s\0]/.test(name);
}

/** Encode the request for the agent; the encoded body must fit MAX_REQUEST_BYTES (else 7). */
export function encodeShimRequest(env: ShimEnv, stdin: string): string {
  const request: ShimRequest = { protocolVersion: SHIM_PROTOCOL_VERSION, env, stdin };
  const body = JSON.stringify(request);
  const size = Buffer.byteLength(body);
  if (size > MAX_REQUEST_BYTES) {
    throw new CniFailure(CniErrorCode.InvalidConfig,
      `network configuration is too large: the request to loom-agent would be ${size} bytes, the limit is ${MAX_REQUEST_BYTES}`,
      'shrink the network configuration (prevResult, runtimeConfig)');
  }
  return body;
}

export function timeoutFor(command: CniCommand): number {
  return command === 'ADD' || command === 'CHECK' ? ADD_CHECK_TIMEOUT_MS : DEFAULT_TIMEOUT_MS;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function envMissing(name: string, command: CniCommand): CniFailure {
  return new CniFailure(CniErrorCode.InvalidEnv, `${name} is required for ${command} but is not set`,
    'the container runtime must set it; check the runtime configuration');
}

function envInvalid(name: string, value: string, expected: string): CniFailure {
  return new CniFailure(CniErrorCode.InvalidEnv, `${name} "${truncate(value)}" is invalid`, `expected ${expected}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `"${truncate(v)}"`;
  return `a ${typeof v}`;
}

function truncate(s: string, max = 80): string {
  const printable = s.replace(/[\x00-\x1f\x7f]/g, '?');
  return printable.length > max ? `${printable.slice(0, max)}...` : printable;
}
