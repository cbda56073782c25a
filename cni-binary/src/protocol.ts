// The request format between loom-cni (the shim) and loom-agent, over the agent's unix socket.
// HTTP/1.1 over the unix socket: POST /v1/cni with a JSON ShimRequest body; the agent answers
// 200 with a ShimResponse (also for CNI errors), 503 while it is not ready, 413 for too-large bodies.
// The protocol version is independent of the CNI version; the agent rejects versions it does not
// speak with a CNI error that says which versions it accepts.
import type { CniCommand, CniErrorObject } from './spec.js';

export const SHIM_PROTOCOL_VERSION = 1;
export const SHIM_HTTP_PATH = '/v1/cni';
/** Upper bound for a request body; the agent rejects anything larger. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

export interface ShimEnv {
  CNI_COMMAND: CniCommand;
  CNI_CONTAINERID?: string;
  CNI_NETNS?: string;
  CNI_IFNAME?: string;
  CNI_ARGS?: string;
  CNI_PATH?: string;
}

export interface ShimRequest {
  protocolVersion: number;
  env: ShimEnv;
  /** stdin exactly as received (the network configuration JSON). */
  stdin: string;
}

export type ShimResponse =
  | { protocolVersion: number; ok: true; /** JSON printed on stdout, exit 0 (may be empty for DEL/GC/STATUS) */ result?: unknown }
  | { protocolVersion: number; ok: false; error: CniErrorObject };
