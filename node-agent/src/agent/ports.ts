// What the agent core needs from the outside world. The real implementations are thin glue over
// ovs/ and podnet/ (see adapters.ts); keeping the core behind these interfaces keeps it testable.

export interface OvsPortInfo {
  name: string;
  ofport: number;
  externalIds: Record<string, string>;
}

export interface BridgePorts {
  /**
   * Add (or re-add) a port and return its ofport once OVS assigned it. With `ofportRequest`, OVS
   * uses that number unless another port holds it (the caller must compare).
   */
  addPort(name: string, externalIds: Record<string, string>, ofportRequest?: number): Promise<number>;
  /** Idempotent. */
  deletePort(name: string): Promise<void>;
  listPorts(): Promise<OvsPortInfo[]>;
}

export type { FlowOp } from '../ovs/ofctl.js';
import type { FlowOp } from '../ovs/ofctl.js';

export interface InstalledFlow {
  cookie: bigint;
  table: number;
  priority: number;
}

export interface FlowTable {
  /** Apply all operations as one atomic OpenFlow bundle. */
  apply(ops: FlowOp[]): Promise<void>;
  dump(): Promise<InstalledFlow[]>;
}

export type { PodInterfaceSpec } from '../podnet/index.js';
import type { PodInterfaceSpec } from '../podnet/index.js';

export interface PodInterfaces {
  hostVethName(containerId: string, ifname: string): string;
  /** `paired` runs as soon as the host end is up, while the pod end is still being configured. */
  create(spec: PodInterfaceSpec, paired?: () => void): Promise<{ hostMac: string; podMac: string }>;
  delete(hostIfname: string): Promise<void>;
  check(spec: PodInterfaceSpec): Promise<string[]>;
  hostVethExists(hostIfname: string): Promise<boolean>;
  listHostVeths(): Promise<string[]>;
}
