// A small interpreter of the policy tables (30/35 egress, 60/65 ingress), with OVS conjunction
// semantics: used by tests to check flow sets against expected reachability, and usable as a
// "why was this packet dropped" explainer over the flows the agent computed.
import { Table, type Flow, type Match } from '../pipeline/flow.js';
import { cidrContainsIp, parseCidr, parseIPv4 } from './cidr.js';

export interface SimPacket {
  srcIp: string;
  dstIp: string;
  protocol: 'tcp' | 'udp' | 'sctp' | 'icmp';
  dstPort?: number;
  /** reg0[0..3] (PacketSource) */
  source: number;
  /** conntrack flags set on the packet, e.g. ['new', 'trk'] (the default) or ['est', 'trk'] */
  ct?: string[];
}

export interface SimStep {
  table: number;
  /** flow that decided (undefined: table miss, handled as the pipeline's priority-0 miss flow) */
  flow?: Flow;
  /** conjunction id that matched, if the decision came from a conjunctive match */
  conjId?: number;
}

export interface SimResult {
  verdict: 'allow' | 'drop';
  regs: Record<number, number>;
  trace: SimStep[];
}

/** Miss flows the pipeline installs in the policy tables. */
const MISS_NEXT: Record<number, number> = {
  [Table.EgressRule]: Table.EgressDefault,
  [Table.EgressDefault]: Table.L3Forwarding,
  [Table.IngressRule]: Table.IngressDefault,
  [Table.IngressDefault]: Table.ConntrackCommit,
};

export class SimulationError extends Error {}

function ctMatches(spec: string, flags: Set<string>): boolean {
  const re = /([+-])([a-z]+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(spec))) {
    if ((m[1] === '+') !== flags.has(m[2] as string)) return false;
  }
  return true;
}

function ipIn(cidr: string, ip: string): boolean {
  const n = parseIPv4(ip);
  return n !== undefined && cidrContainsIp(parseCidr(cidr), n);
}

/** Does a flow match the packet? (conj_id is evaluated by the caller) */
export function matchesPacket(m: Match, pkt: SimPacket, regs: Record<number, number>): boolean {
  const unsupported = (['inPort', 'dlSrc', 'dlDst', 'arpOp', 'arpSpa', 'arpTpa', 'arpSha', 'ctLabel', 'tpSrc', 'tunId', 'tunSrc'] as const).filter(
    (k) => m[k] !== undefined,
  );
  if (unsupported.length > 0) throw new SimulationError(`simulator cannot evaluate match fields ${unsupported.join(', ')}`);
  if (m.protocol && m.protocol !== 'ip' && m.protocol !== pkt.protocol) return false;
  for (const r of m.regs ?? []) {
    const [lo, hi] = r.bits ?? [0, 31];
    const width = hi - lo + 1;
    const field = width === 32 ? (regs[r.reg] ?? 0) >>> 0 : ((regs[r.reg] ?? 0) >>> lo) & ((1 << width) - 1);
    if (field !== r.value) return false;
  }
  if (m.nwSrc && !ipIn(m.nwSrc, pkt.srcIp)) return false;
  if (m.nwDst && !ipIn(m.nwDst, pkt.dstIp)) return false;
  if (m.tpDst) {
    if (!m.protocol || m.protocol === 'ip' || pkt.dstPort === undefined) return false;
    const mask = m.tpDst.mask ?? 0xffff;
    if ((pkt.dstPort & mask) !== (m.tpDst.port & mask)) return false;
  }
  if (m.ctState && !ctMatches(m.ctState, new Set(pkt.ct ?? ['new', 'trk']))) return false;
  return true;
}

/** Index flows by table and priority (highest first). */
export function indexFlows(flows: Flow[]): Map<number, Array<{ priority: number; flows: Flow[] }>> {
  const byTable = new Map<number, Map<number, Flow[]>>();
  for (const f of flows) {
    let t = byTable.get(f.table);
    if (!t) byTable.set(f.table, (t = new Map()));
    const list = t.get(f.priority);
    if (list) list.push(f);
    else t.set(f.priority, [f]);
  }
  const out = new Map<number, Array<{ priority: number; flows: Flow[] }>>();
  for (const [table, t] of byTable) {
    out.set(table, [...t.entries()].sort(([a], [b]) => b - a).map(([priority, fl]) => ({ priority, flows: fl })));
  }
  return out;
}

/** Find the flow deciding a packet in one table, with OVS conjunction semantics. */
function lookup(levels: Array<{ priority: number; flows: Flow[] }>, pkt: SimPacket, regs: Record<number, number>): SimStep | undefined {
  for (const { flows } of levels) {
    const plain: Flow[] = [];
    const clauses = new Map<number, { n: number; seen: Set<number> }>();
    for (const f of flows) {
      if (f.match.conjId !== undefined) continue;
      if (!matchesPacket(f.match, pkt, regs)) continue;
      const conj = f.actions.filter((a) => a.type === 'conjunction');
      if (conj.length === 0) {
        plain.push(f);
        continue;
      }
      for (const a of conj) {
        if (a.type !== 'conjunction') continue;
        let c = clauses.get(a.id);
        if (!c) clauses.set(a.id, (c = { n: a.nClauses, seen: new Set() }));
        c.seen.add(a.clause);
      }
    }
    if (plain.length > 1) throw new SimulationError(`ambiguous: ${plain.length} flows of the same priority match in table ${plain[0]?.table}`);
    if (plain.length === 1) return { table: (plain[0] as Flow).table, flow: plain[0] };
    const complete = [...clauses.entries()].filter(([, c]) => c.seen.size === c.n).map(([id]) => id).sort((a, b) => a - b);
    for (const id of complete) {
      const f = flows.find((x) => x.match.conjId === id && matchesPacket({ ...x.match, conjId: undefined }, pkt, regs));
      if (f) return { table: f.table, flow: f, conjId: id };
    }
  }
  return undefined;
}

/**
 * Run a packet through the policy tables from `start` until it leaves them (goto a table outside
 * 30/35/60/65 = allowed; drop = dropped). Table misses follow the pipeline's miss flows.
 */
export function simulate(flows: Flow[] | ReturnType<typeof indexFlows>, start: number, pkt: SimPacket): SimResult {
  const index = Array.isArray(flows) ? indexFlows(flows) : flows;
  const regs: Record<number, number> = { 0: pkt.source };
  const trace: SimStep[] = [];
  let table = start;
  for (let hops = 0; hops < 16; hops++) {
    if (MISS_NEXT[table] === undefined) return { verdict: 'allow', regs, trace };
    const step = lookup(index.get(table) ?? [], pkt, regs);
    trace.push(step ?? { table });
    if (!step?.flow) {
      table = MISS_NEXT[table] as number;
      continue;
    }
    let next: number | undefined;
    for (const a of step.flow.actions) {
      if (a.type === 'drop') return { verdict: 'drop', regs, trace };
      if (a.type === 'loadReg') regs[a.reg] = a.value;
      else if (a.type === 'goto') next = a.table;
      else throw new SimulationError(`simulator cannot execute action ${a.type} in table ${table}`);
    }
    if (next === undefined) return { verdict: 'drop', regs, trace }; // no actions = drop in OpenFlow
    table = next;
  }
  throw new SimulationError('goto loop in policy tables');
}
