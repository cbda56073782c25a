// The ONE module that turns typed Flow values into ovs-ofctl text and parses ovs-ofctl dumps back.
//
// Rendering produces the canonical form that `ovs-ofctl -O OpenFlow15 dump-flows` prints for the same
// flow (same field order, hex/decimal choices, no "/32", set_field instead of load, goto_table), so a
// rendered match or action string can be compared with a dumped one as plain strings. The integration
// test node-agent/test/integration/ofctl.test.ts checks that round trip against OVS 3.1.
import type { Action, Flow, Match, RegMatch, PortMatch } from '../pipeline/flow.js';
import {
  canonicalIpv4Cidr,
  checkBigUint,
  checkBits,
  checkIpv4,
  checkMac,
  checkOfPort,
  checkReg,
  checkTable,
  checkUint,
  invalid,
} from './validate.js';

/** OpenFlow version used for every ovs-ofctl call (OVS 3.1 supports bundles and goto_table with it). */
export const OPENFLOW_VERSION = 'OpenFlow15';
/** Priority OVS assumes (and does not print) when none is given. */
export const DEFAULT_PRIORITY = 32768;

const IP_PROTOCOLS = new Set(['ip', 'tcp', 'udp', 'sctp', 'icmp']);
const L4_PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);
/** ct_state flags in bit order: OVS prints them in this order whatever order they were given in. */
const CT_STATE_FLAGS = ['new', 'est', 'rel', 'rpl', 'inv', 'trk', 'snat', 'dnat'] as const;
/** Field references usable in move actions: NXM/OXM names with an optional bit range, e.g. NXM_NX_REG2[0..15]. */
const FIELD_REF_RE = /^(NXM_OF|NXM_NX|OXM_OF)_[A-Z0-9_]+\[(\d+(\.\.\d+)?)?\]$/;
const ALL_ONES_128 = (1n << 128n) - 1n;

/** Hex as OVS prints it (printf "%#x"): zero is "0", not "0x0". */
const hex = (v: number | bigint): string => (v === 0 || v === 0n ? '0' : `0x${v.toString(16)}`);

function canonicalCtState(value: string): string {
  if (typeof value !== 'string' || !/^([+-][a-z]+)+$/.test(value)) {
    throw invalid('ct_state', value, 'flags like "+new+trk" or "-trk"');
  }
  const signs = new Map<string, string>();
  for (const m of value.matchAll(/([+-])([a-z]+)/g)) {
    const [, sign, flag] = m as unknown as [string, string, string];
    if (!(CT_STATE_FLAGS as readonly string[]).includes(flag)) {
      throw invalid('ct_state flag', flag, CT_STATE_FLAGS.join(', '));
    }
    if (signs.has(flag) && signs.get(flag) !== sign) throw invalid('ct_state', value, 'each flag at most once');
    signs.set(flag, sign);
  }
  return CT_STATE_FLAGS.filter((f) => signs.has(f)).map((f) => `${signs.get(f)}${f}`).join('');
}

/** Merges the register matches into one value/mask per register, sorted by register number. */
function renderRegs(regs: RegMatch[]): string[] {
  const merged = new Map<number, { value: number; mask: number }>();
  for (const r of regs) {
    checkReg('register in match', r.reg);
    const { start, width } = r.bits ? checkBits(`reg${r.reg} bits`, r.bits) : { start: 0, width: 32 };
    const fieldMax = width === 32 ? 0xffffffff : 2 ** width - 1;
    checkUint(`reg${r.reg} value`, r.value, fieldMax);
    const mask = (fieldMax * 2 ** start) >>> 0;
    const value = (r.value * 2 ** start) >>> 0;
    const prev = merged.get(r.reg) ?? { value: 0, mask: 0 };
    if ((prev.mask & mask) !== 0) throw invalid(`reg${r.reg} match`, r, 'bit ranges that do not overlap');
    merged.set(r.reg, { value: (prev.value | value) >>> 0, mask: (prev.mask | mask) >>> 0 });
  }
  return [...merged.entries()]
    .sort(([a], [b]) => a - b)
    .map(([reg, { value, mask }]) => (mask === 0xffffffff ? `reg${reg}=${hex(value)}` : `reg${reg}=${hex(value)}/${hex(mask)}`));
}

function renderPort(field: string, p: PortMatch): string | null {
  checkUint(`${field} port`, p.port, 0xffff);
  const mask = p.mask === undefined ? 0xffff : checkUint(`${field} mask`, p.mask, 0xffff);
  if (mask === 0) return null;
  if (mask === 0xffff) return `${field}=${p.port}`;
  return `${field}=${hex(p.port & mask)}/${hex(mask)}`;
}

/** Renders a match in the field order and value format OVS 3.1 prints. Empty match -> "". */
export function renderMatch(m: Match): string {
  const parts: string[] = [];
  const proto = m.protocol;
  if (proto !== undefined && !IP_PROTOCOLS.has(proto) && proto !== 'arp') {
    throw invalid('protocol', proto, 'ip, arp, tcp, udp, sctp or icmp');
  }
  const needIp = (field: string) => {
    if (proto === undefined || !IP_PROTOCOLS.has(proto)) throw invalid(`${field} prerequisite protocol`, proto, 'an IP protocol (ip, tcp, udp, sctp, icmp)');
  };
  const needArp = (field: string) => {
    if (proto !== 'arp') throw invalid(`${field} prerequisite protocol`, proto, 'arp');
  };

  if (m.conjId !== undefined) parts.push(`conj_id=${checkUint('conj_id', m.conjId, 0xffffffff)}`);
  if (m.ctState !== undefined) parts.push(`ct_state=${canonicalCtState(m.ctState)}`);
  if (m.ctLabel !== undefined) {
    const mask = m.ctLabel.mask === undefined ? ALL_ONES_128 : checkBigUint('ct_label mask', m.ctLabel.mask, 128);
    const value = checkBigUint('ct_label value', m.ctLabel.value, 128) & mask;
    if (mask !== 0n) parts.push(mask === ALL_ONES_128 ? `ct_label=${hex(value)}` : `ct_label=${hex(value)}/${hex(mask)}`);
  }
  if (proto !== undefined) parts.push(proto);
  if (m.regs !== undefined) parts.push(...renderRegs(m.regs));
  if (m.tunId !== undefined) parts.push(`tun_id=${hex(checkUint('tun_id', m.tunId, 0xffffffff))}`);
  if (m.tunSrc !== undefined) parts.push(`tun_src=${checkIpv4('tun_src', m.tunSrc)}`);
  if (m.inPort !== undefined) parts.push(`in_port=${checkOfPort('in_port', m.inPort)}`);
  if (m.dlSrc !== undefined) parts.push(`dl_src=${checkMac('dl_src', m.dlSrc)}`);
  if (m.dlDst !== undefined) parts.push(`dl_dst=${checkMac('dl_dst', m.dlDst)}`);
  if (m.nwSrc !== undefined) {
    needIp('nw_src');
    const v = canonicalIpv4Cidr('nw_src', m.nwSrc);
    if (v !== null) parts.push(`nw_src=${v}`);
  }
  if (m.arpSpa !== undefined) {
    needArp('arp_spa');
    const v = canonicalIpv4Cidr('arp_spa', m.arpSpa);
    if (v !== null) parts.push(`arp_spa=${v}`);
  }
  if (m.nwDst !== undefined) {
    needIp('nw_dst');
    const v = canonicalIpv4Cidr('nw_dst', m.nwDst);
    if (v !== null) parts.push(`nw_dst=${v}`);
  }
  if (m.arpTpa !== undefined) {
    needArp('arp_tpa');
    const v = canonicalIpv4Cidr('arp_tpa', m.arpTpa);
    if (v !== null) parts.push(`arp_tpa=${v}`);
  }
  if (m.arpOp !== undefined) {
    needArp('arp_op');
    if (m.arpOp !== 1 && m.arpOp !== 2) throw invalid('arp_op', m.arpOp, '1 (request) or 2 (reply)');
    parts.push(`arp_op=${m.arpOp}`);
  }
  if (m.arpSha !== undefined) {
    needArp('arp_sha');
    parts.push(`arp_sha=${checkMac('arp_sha', m.arpSha)}`);
  }
  for (const [field, p] of [['tp_src', m.tpSrc], ['tp_dst', m.tpDst]] as const) {
    if (p === undefined) continue;
    if (proto === undefined || !L4_PROTOCOLS.has(proto)) throw invalid(`${field} prerequisite protocol`, proto, 'tcp, udp or sctp');
    const v = renderPort(field, p);
    if (v !== null) parts.push(v);
  }
  return parts.join(',');
}

function renderFieldRef(what: string, ref: string): string {
  if (typeof ref !== 'string' || !FIELD_REF_RE.test(ref)) throw invalid(what, ref, 'a field reference like NXM_NX_REG2[] or NXM_NX_CT_LABEL[0..31]');
  return ref;
}

function renderMove(src: string, dst: string): string {
  return `move:${renderFieldRef('move source', src)}->${renderFieldRef('move destination', dst)}`;
}

function renderAction(a: Action, fromTable: number | undefined): string {
  switch (a.type) {
    case 'goto': {
      checkTable('goto table', a.table);
      if (fromTable !== undefined && a.table <= fromTable) {
        throw invalid('goto table', a.table, `a table after the flow's table ${fromTable} (OpenFlow only jumps forward)`);
      }
      return `goto_table:${a.table}`;
    }
    case 'drop':
      return 'drop';
    case 'output':
      return `output:${checkOfPort('output port', a.port)}`;
    case 'outputReg':
      return `output:NXM_NX_REG${checkReg('output register', a.reg)}[]`;
    case 'inPort':
      return 'IN_PORT';
    case 'setField':
      switch (a.field) {
        case 'eth_src':
        case 'eth_dst':
          return `set_field:${checkMac(a.field, a.value)}->${a.field}`;
        case 'tun_dst':
          return `set_field:${checkIpv4('tun_dst', a.value)}->tun_dst`;
        case 'tun_id': {
          const text = String(a.value);
          if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(text)) throw invalid('tun_id', a.value, 'a decimal or 0x-hex number');
          const n = BigInt(text);
          return `set_field:${hex(checkBigUint('tun_id', n, 64))}->tun_id`;
        }
        default:
          throw invalid('set_field field', (a as { field: unknown }).field, 'eth_src, eth_dst, tun_dst or tun_id');
      }
    case 'loadReg': {
      checkReg('load register', a.reg);
      const { start, width } = a.bits ? checkBits(`reg${a.reg} bits`, a.bits) : { start: 0, width: 32 };
      const fieldMax = width === 32 ? 0xffffffff : 2 ** width - 1;
      checkUint(`reg${a.reg} value`, a.value, fieldMax);
      const value = (a.value * 2 ** start) >>> 0;
      const mask = (fieldMax * 2 ** start) >>> 0;
      return mask === 0xffffffff ? `set_field:${hex(value)}->reg${a.reg}` : `set_field:${hex(value)}/${hex(mask)}->reg${a.reg}`;
    }
    case 'arpReply': {
      const mac = checkMac('arp reply mac', a.mac);
      const ip = checkIpv4('arp reply ip', a.ip);
      return [
        'move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]',
        `set_field:${mac}->eth_src`,
        'set_field:2->arp_op',
        'move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[]',
        `set_field:${mac}->arp_sha`,
        'move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[]',
        `set_field:${ip}->arp_spa`,
        'IN_PORT',
      ].join(',');
    }
    case 'decTtl':
      return 'dec_ttl';
    case 'move':
      return renderMove(a.src, a.dst);
    case 'ct': {
      const args: string[] = [];
      if (a.commit) args.push('commit');
      if (a.table !== undefined) args.push(`table=${checkTable('ct table', a.table)}`);
      args.push(`zone=${checkUint('ct zone', a.zone, 0xffff)}`);
      if (a.execMoves !== undefined && a.execMoves.length > 0) {
        if (!a.commit) throw invalid('ct exec', a.execMoves, 'exec() only together with commit');
        args.push(`exec(${a.execMoves.map((m) => renderMove(m.src, m.dst)).join(',')})`);
      }
      return `ct(${args.join(',')})`;
    }
    case 'conjunction': {
      checkUint('conjunction id', a.id, 0xffffffff);
      checkUint('conjunction clause count', a.nClauses, 64, 2);
      checkUint('conjunction clause', a.clause, a.nClauses, 1);
      return `conjunction(${a.id},${a.clause}/${a.nClauses})`;
    }
    default:
      throw invalid('action type', (a as { type: unknown }).type, 'one of the Action union types of pipeline/flow.ts');
  }
}

/** Renders an action list; an empty list is "drop". `fromTable` enables the forward-only goto check. */
export function renderActions(actions: Action[], fromTable?: number): string {
  if (actions.length === 0) return 'drop';
  if (actions.length > 1 && actions.some((a) => a.type === 'drop')) {
    throw invalid('actions', actions.map((a) => a.type), '"drop" alone (it cannot be combined with other actions)');
  }
  const conjunctions = actions.filter((a) => a.type === 'conjunction').length;
  if (conjunctions > 0 && conjunctions < actions.length) {
    throw invalid('actions', actions.map((a) => a.type), 'conjunction actions alone (OVS refuses them mixed with other actions)');
  }
  return actions.map((a) => renderAction(a, fromTable)).join(',');
}

function checkFlowHeader(f: Pick<Flow, 'table' | 'priority'>): void {
  checkTable('flow table', f.table);
  checkUint('flow priority', f.priority, 0xffff);
}

/** Identity of a flow in OVS: table, priority and canonical match. Equal keys replace each other on add. */
export function flowKey(f: Pick<Flow, 'table' | 'priority' | 'match'>): string {
  checkFlowHeader(f);
  return joinKey(f.table, f.priority, renderMatch(f.match));
}

/** The same key computed from a dumped flow. */
export function installedFlowKey(f: Pick<InstalledFlow, 'table' | 'priority' | 'match'>): string {
  return joinKey(f.table, f.priority, f.match);
}

function joinKey(table: number, priority: number, match: string): string {
  return match === '' ? `table=${table},priority=${priority}` : `table=${table},priority=${priority},${match}`;
}

export function renderCookie(cookie: bigint): string {
  return `0x${checkBigUint('cookie', cookie, 64).toString(16)}`;
}

/** `table=..,priority=..,cookie=0x..,<match> actions=...`: the text of a `flow add`. */
export function renderFlow(f: Flow): string {
  checkFlowHeader(f);
  const match = renderMatch(f.match);
  const head = `table=${f.table},priority=${f.priority},cookie=${renderCookie(f.cookie)}`;
  return `${match === '' ? head : `${head},${match}`} actions=${renderActions(f.actions, f.table)}`;
}

/** `cookie=0xV/0xM` selector for delete/dump filters. */
export function renderCookieSelector(cookie: bigint, mask: bigint): string {
  checkBigUint('cookie mask', mask, 64);
  if ((checkBigUint('cookie', cookie, 64) & ~mask) !== 0n) throw invalid('cookie', cookie, `no bits outside the mask ${hex(mask)}`);
  return `cookie=${renderCookie(cookie)}/${renderCookie(mask)}`;
}

/** A flow as ovs-ofctl dump-flows prints it, split into its parts. */
export interface InstalledFlow {
  cookie: bigint;
  table: number;
  priority: number;
  /** canonical match string without priority, "" for match-all */
  match: string;
  actions: string;
  /** present when the dump included statistics */
  nPackets?: number;
  nBytes?: number;
}

const STATS_KEYS = new Set([
  'cookie', 'duration', 'table', 'n_packets', 'n_bytes', 'idle_timeout', 'hard_timeout', 'idle_age', 'hard_age', 'importance',
]);
const FLAG_WORDS = new Set(['send_flow_rem', 'check_overlap', 'reset_counts', 'no_packet_counts', 'no_byte_counts']);

/**
 * Parses one line of `ovs-ofctl dump-flows` output (with or without --no-stats).
 * Returns null for lines that are not flows (the "OFPST_FLOW reply" header, blank lines).
 */
export function parseFlowLine(line: string): InstalledFlow | null {
  const text = line.trim();
  let actionsAt = 0;
  if (!text.startsWith('actions=')) {
    const at = text.indexOf(' actions=');
    if (at < 0) return null;
    actionsAt = at + 1;
  }
  const actions = text.slice(actionsAt + 'actions='.length);
  const head = text.slice(0, actionsAt).trim().replace(/,$/, '');
  const flow: InstalledFlow = { cookie: 0n, table: 0, priority: DEFAULT_PRIORITY, match: '', actions };
  const segments = head === '' ? [] : head.split(', ');
  segments.forEach((segment, i) => {
    const eq = segment.indexOf('=');
    const key = eq < 0 ? segment : segment.slice(0, eq);
    const value = eq < 0 ? '' : segment.slice(eq + 1);
    const last = i === segments.length - 1;
    if (!segment.includes(',') && (STATS_KEYS.has(key) || FLAG_WORDS.has(key))) {
      if (key === 'cookie') flow.cookie = BigInt(value);
      else if (key === 'table') flow.table = Number(value);
      else if (key === 'n_packets') flow.nPackets = Number(value);
      else if (key === 'n_bytes') flow.nBytes = Number(value);
      return;
    }
    if (!last) throw new Error(`cannot parse ovs-ofctl flow line (unexpected "${segment}"): ${line}`);
    const fields = segment.split(',');
    if (fields[0]?.startsWith('priority=')) {
      flow.priority = Number(fields[0].slice('priority='.length));
      fields.shift();
    }
    flow.match = fields.join(',');
  });
  if (!Number.isInteger(flow.table) || !Number.isInteger(flow.priority)) {
    throw new Error(`cannot parse ovs-ofctl flow line (bad table or priority): ${line}`);
  }
  return flow;
}

/** Parses the whole output of `ovs-ofctl dump-flows`. */
export function parseDumpFlows(text: string): InstalledFlow[] {
  const flows: InstalledFlow[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('OFPST_FLOW') || line.startsWith('NXST_FLOW')) continue;
    const f = parseFlowLine(line);
    if (f !== null) flows.push(f);
  }
  return flows;
}
