// Resolved rules -> OpenFlow flows (tables 30/35/60/65) using conjunctive matches.
//
// Per rule with conjunction id N and T targets, S peers, P ports:
//   clause flows  (priority 200): one per target IP, one per peer address/CIDR, one per port match,
//                                 action conjunction(N, k/n) for the restricted dimensions only;
//   conj flow     (priority 200): conj_id=N -> load reg2/reg3 = N, goto next stage.
// A rule restricted only by its targets (no from/to, no ports) cannot be a conjunction (OVS needs
// n >= 2): it is one direct allow flow per target at priority 201.
// Flows of different rules with the same table/priority/match are ONE OpenFlow flow: their
// conjunction actions are merged (see mergePieces), which is what keeps the flow count additive.
import { makeCookie, objectId, CookieKind } from '../pipeline/cookie.js';
import { PacketSource, Priority, Reg, Table, type Action, type Flow, type Match } from '../pipeline/flow.js';
import type { PortSel, ResolvedPolicy, ResolvedRule } from './rules.js';
import type { Direction } from './types.js';

export const PolicyPriority = {
  /** established/related connections skip policy (table 30 and 60) */
  Established: Priority.Highest,
  /** traffic from this node (gateway) to local pods is always allowed (table 60) */
  FromNode: Priority.Highest - 100,
  /** direct allow of a rule with no peer and no port restriction */
  DirectRule: Priority.Normal + 1,
  /** conjunction clauses and conj_id flows */
  Rule: Priority.Normal,
  /** default drop of isolated pods (tables 35 and 65) */
  Isolation: Priority.Normal,
} as const;

/** Cookie id reserved for the policy stage's own static flows (established bypass, node traffic). */
export const STATIC_COOKIE_ID = 0;

interface Stage {
  rule: number;
  isolation: number;
  /** table an allowed new connection continues to */
  next: number;
  ruleReg: number;
  /** match field holding the applied-to pod and the peer */
  target: 'nwSrc' | 'nwDst';
  peer: 'nwSrc' | 'nwDst';
}

export const STAGES: Record<Direction, Stage> = {
  egress: { rule: Table.EgressRule, isolation: Table.EgressDefault, next: Table.L3Forwarding, ruleReg: Reg.EgressRuleId, target: 'nwSrc', peer: 'nwDst' },
  ingress: { rule: Table.IngressRule, isolation: Table.IngressDefault, next: Table.ConntrackCommit, ruleReg: Reg.IngressRuleId, target: 'nwDst', peer: 'nwSrc' },
};

/** One contribution to an OpenFlow flow; pieces with the same `key` are merged into one flow. */
export interface Piece {
  key: string;
  table: number;
  priority: number;
  match: Match;
  actions: Action[];
  cookie: bigint;
  /** merge order: the lowest wins the cookie (and the actions of non-conjunctive flows) */
  order: number;
  conj: boolean;
}

/**
 * Fast identity of the flows this module builds: equal keys <=> equal flowIdentity() for these
 * match shapes (protocol, regs, nw_src, nw_dst, tp_dst, ct_state, conj_id).
 */
export function pieceKey(table: number, priority: number, m: Match): string {
  const regs = m.regs?.map((r) => `${r.reg}=${r.value}${r.bits ? `[${r.bits[0]}..${r.bits[1]}]` : ''}`).join(',') ?? '';
  const tp = m.tpDst ? `${m.tpDst.port}/${m.tpDst.mask ?? ''}` : '';
  return `${table}/${priority}/${m.protocol ?? ''}|${regs}|${m.nwSrc ?? ''}|${m.nwDst ?? ''}|${tp}|${m.ctState ?? ''}|${m.conjId ?? ''}`;
}

function piece(table: number, priority: number, match: Match, actions: Action[], cookie: bigint, order: number, conj: boolean): Piece {
  return { key: pieceKey(table, priority, match), table, priority, match, actions, cookie, order, conj };
}

function addressMatch(field: 'nwSrc' | 'nwDst', address: string): Match {
  return address === '0.0.0.0/0' ? { protocol: 'ip' } : { protocol: 'ip', [field]: address };
}

function portMatch(p: PortSel): Match {
  if (p.port === undefined) return { protocol: p.protocol };
  return { protocol: p.protocol, tpDst: p.mask === undefined ? { port: p.port } : { port: p.port, mask: p.mask } };
}

/** Flows of one resolved rule whose conjunction id is `id`. */
export function rulePieces(rule: ResolvedRule, id: number, round: number): Piece[] {
  const stage = STAGES[rule.direction];
  const cookie = makeCookie(round, CookieKind.PolicyRule, id);
  const allow: Action[] = [{ type: 'loadReg', reg: stage.ruleReg, value: id }, { type: 'goto', table: stage.next }];
  const clauses: Match[][] = [rule.targets.map((ip) => addressMatch(stage.target, ip))];
  if (rule.peers !== 'any') clauses.push(rule.peers.map((a) => addressMatch(stage.peer, a)));
  if (rule.ports !== 'any') clauses.push(rule.ports.map(portMatch));

  if (clauses.length === 1) {
    return rule.targets.map((ip) => piece(stage.rule, PolicyPriority.DirectRule, addressMatch(stage.target, ip), allow, cookie, id, false));
  }
  const out: Piece[] = [];
  clauses.forEach((matches, k) => {
    const action: Action = { type: 'conjunction', id, clause: k + 1, nClauses: clauses.length };
    for (const m of matches) out.push(piece(stage.rule, PolicyPriority.Rule, m, [action], cookie, id, true));
  });
  out.push(piece(stage.rule, PolicyPriority.Rule, { protocol: 'ip', conjId: id }, allow, cookie, id, false));
  return out;
}

/** Default-drop flows of the policy's isolated directions, one per target pod and direction. */
export function isolationPieces(policy: ResolvedPolicy, round: number): Piece[] {
  const out: Piece[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    if (!policy.isolates[direction]) continue;
    const stage = STAGES[direction];
    for (const t of policy.targets) {
      const cookie = makeCookie(round, CookieKind.PolicyIsolation, objectId(`${t.pod}/${direction}`));
      out.push(piece(stage.isolation, PolicyPriority.Isolation, addressMatch(stage.target, t.ip), [{ type: 'drop' }], cookie, 0, false));
    }
  }
  return out;
}

/**
 * Static flows of the policy stage: established/related packets skip policy in both directions
 * (replies of allowed connections; connections keep flowing when policies change, as in Antrea),
 * and new connections from this node to local pods are allowed (kubelet probes).
 */
export function staticPieces(nodeAddresses: string[], round: number): Piece[] {
  const cookie = makeCookie(round, CookieKind.PolicyRule, STATIC_COOKIE_ID);
  const out: Piece[] = [];
  for (const stage of [STAGES.egress, STAGES.ingress]) {
    out.push(piece(stage.rule, PolicyPriority.Established, { protocol: 'ip', ctState: '-new+trk' }, [{ type: 'goto', table: stage.next }], cookie, 0, false));
  }
  const fromGateway = { reg: Reg.Source, value: PacketSource.Gateway, bits: [0, 3] as [number, number] };
  const toCommit: Action[] = [{ type: 'goto', table: Table.ConntrackCommit }];
  if (nodeAddresses.length === 0) {
    out.push(piece(Table.IngressRule, PolicyPriority.FromNode, { protocol: 'ip', regs: [fromGateway] }, toCommit, cookie, 0, false));
  }
  for (const ip of nodeAddresses) {
    out.push(piece(Table.IngressRule, PolicyPriority.FromNode, { protocol: 'ip', regs: [fromGateway], nwSrc: ip }, toCommit, cookie, 0, false));
  }
  return out;
}

function conjOrder(a: Action, b: Action): number {
  if (a.type !== 'conjunction' || b.type !== 'conjunction') return 0;
  return a.id - b.id || a.clause - b.clause;
}

/** Merge the pieces of one slot into the flow OVS holds for it. */
export function mergePieces(pieces: Piece[]): Flow {
  let first = pieces[0] as Piece;
  for (const p of pieces) if (p.order < first.order) first = p;
  const base = { table: first.table, priority: first.priority, match: first.match, cookie: first.cookie };
  if (!first.conj) return { ...base, actions: first.actions };
  const seen = new Map<string, Action>();
  for (const p of pieces) {
    for (const a of p.actions) if (a.type === 'conjunction') seen.set(`${a.id}/${a.clause}`, a);
  }
  return { ...base, actions: [...seen.values()].sort(conjOrder) };
}

/** Text of a flow's actions and cookie, to tell whether an installed flow must be modified. */
export function flowContent(f: Flow): string {
  return `${f.cookie}|${f.actions
    .map((a) => (a.type === 'conjunction' ? `c${a.id}/${a.clause}/${a.nClauses}` : a.type === 'loadReg' ? `r${a.reg}=${a.value}` : a.type === 'goto' ? `g${a.table}` : a.type))
    .join(',')}`;
}
