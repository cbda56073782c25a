// Flows as data: the typed value every pure builder produces. Rendering to ovs-ofctl syntax
// happens in exactly one place (ovs/flow-syntax.ts).

/** Tables of Loom's OpenFlow pipeline, in packet order. */
export const Table = {
  Classifier: 0,
  SpoofGuard: 10,
  ArpResponder: 15,
  Conntrack: 20,
  ConntrackState: 21,
  EgressRule: 30,
  EgressDefault: 35,
  L3Forwarding: 40,
  L2Forwarding: 50,
  IngressRule: 60,
  IngressDefault: 65,
  ConntrackCommit: 70,
  Output: 80,
} as const;
export type TableId = (typeof Table)[keyof typeof Table];
export const TABLE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Table).map(([name, id]) => [id, name]),
);

/**
 * Registers. reg0[0..3]: where the packet came from (PacketSource). reg1: the OpenFlow port the
 * packet leaves through, decided in L2Forwarding and used by ingress policy and Output.
 * reg2 / reg3: id of the egress / ingress NetworkPolicy rule that allowed a new connection (0 = none);
 * ConntrackCommit stores them in ct_label[0..31] / ct_label[32..63] so replies and traces can name it.
 */
export const Reg = { Source: 0, OutPort: 1, EgressRuleId: 2, IngressRuleId: 3 } as const;
export const PacketSource = { Pod: 1, Gateway: 2, Tunnel: 3 } as const;

/** Conntrack zone used for all pod traffic. */
export const CT_ZONE = 65520;

export type Protocol = 'ip' | 'arp' | 'tcp' | 'udp' | 'sctp' | 'icmp';

export interface RegMatch {
  reg: number;
  value: number;
  /** bit range [start, end] inclusive; whole register when absent */
  bits?: [number, number];
}

export interface PortMatch {
  port: number;
  /** for endPort ranges expressed as value/mask */
  mask?: number;
}

/** A flow match. Fields are rendered in a fixed order. */
export interface Match {
  inPort?: number;
  protocol?: Protocol;
  regs?: RegMatch[];
  dlSrc?: string;
  dlDst?: string;
  nwSrc?: string; // IP or CIDR
  nwDst?: string;
  arpOp?: 1 | 2;
  arpSpa?: string;
  arpTpa?: string;
  arpSha?: string;
  ctState?: string; // e.g. "+new+trk"
  ctLabel?: { value: bigint; mask?: bigint };
  tpSrc?: PortMatch;
  tpDst?: PortMatch;
  tunId?: number;
  tunSrc?: string;
  conjId?: number;
}

export type Action =
  | { type: 'goto'; table: number }
  | { type: 'drop' }
  | { type: 'output'; port: number }
  | { type: 'outputReg'; reg: number }
  | { type: 'inPort' }
  | { type: 'setField'; field: 'eth_src' | 'eth_dst' | 'tun_dst' | 'tun_id'; value: string }
  | { type: 'loadReg'; reg: number; value: number; bits?: [number, number] }
  | { type: 'arpReply'; mac: string; ip: string }
  | { type: 'decTtl' }
  | { type: 'move'; src: string; dst: string } // e.g. src 'NXM_NX_REG2[]', dst 'NXM_NX_CT_LABEL[0..31]'
  | { type: 'ct'; zone: number; commit?: boolean; table?: number; execMoves?: Array<{ src: string; dst: string }> }
  | { type: 'conjunction'; id: number; clause: number; nClauses: number };

export interface Flow {
  table: number;
  priority: number;
  match: Match;
  actions: Action[];
  cookie: bigint;
}

/** Priorities used across builders. */
export const Priority = {
  Highest: 65000,
  High: 210,
  Normal: 200,
  Low: 190,
  Default: 0,
} as const;

export const goto = (table: number): Action => ({ type: 'goto', table });
export const drop: Action = { type: 'drop' };

/** Identity of a flow inside OVS: table, priority and match (the cookie and actions are not part of it). */
export function flowIdentity(f: Pick<Flow, 'table' | 'priority' | 'match'>): string {
  return `${f.table}/${f.priority}/${stableJson(f.match)}`;
}

function stableJson(v: unknown): string {
  if (typeof v === 'bigint') return `"${v.toString()}n"`;
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
