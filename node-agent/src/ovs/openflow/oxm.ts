// Match -> OpenFlow 1.5 `ofp_match` (type OFPMT_OXM): a list of OXM TLVs, each a 32-bit header
// (class:16 | field:7 | hasmask:1 | length:8, OpenFlow 1.5.1 section 7.2.3.2) followed by the value
// and, when hasmask is set, a mask of the same size. Standard fields use class OFPXMC_OPENFLOW_BASIC
// (0x8000), registers OFPXMC_PACKET_REGS (0x8001, 64-bit xregs); Open vSwitch extension fields use
// the NXM classes 0x0000 (NXM_OF_*) and 0x0001 (NXM_NX_*), which OVS accepts inside OXM matches
// (include/openflow/nicira-ext.h, lib/meta-flow.h "NXM:"/"OXM:" lines).
//
// The values are exactly those flow-syntax.ts renders (the text path): the same validation runs
// first (renderMatch), then every field is encoded in the canonical form OVS stores, so that a flow
// installed either way dumps identically:
//   - a field whose mask is zero is left out (nw_src=0.0.0.0/0, tp_dst mask 0, ct_label mask 0);
//   - an all-ones mask is sent unmasked; value bits outside the mask are cleared;
//   - register matches on one register are merged into one value/mask (as renderRegs does), and
//     regN/regN+1 pairs travel as one 64-bit xreg TLV, as ovs-ofctl sends them in OpenFlow 1.5.
// The TLV order is ovs-ofctl's (see encodeMatchFields); the unit test checks the bytes against what
// `ovs-ofctl -O OpenFlow15 bundle` sends for the same flows. OVS checks prerequisites in TLV order
// (lib/nx-match.c nx_pull_raw), so eth_type precedes IPv4/ARP fields and ip_proto the L4 ports.
import type { Match, RegMatch } from '../../pipeline/flow.js';
import { renderMatch } from '../flow-syntax.js';
import { canonicalIpv4Cidr, checkBits, checkIpv4, checkMac } from '../validate.js';
import { Writer } from './bytes.js';

export const OXM_CLASS = { NXM_0: 0x0000, NXM_1: 0x0001, OPENFLOW_BASIC: 0x8000, PACKET_REGS: 0x8001 } as const;
/** ofp_match.type for OXM matches (OpenFlow 1.5.1 section 7.2.3.1). */
export const OFPMT_OXM = 1;

/** A match/set-field/move field: its TLV class and field number and its value size in bytes. */
export interface OxmField {
  name: string;
  cls: number;
  field: number;
  bytes: number;
}

const f = (name: string, cls: number, field: number, bytes: number): OxmField => ({ name, cls, field, bytes });

/** OpenFlow basic fields (OpenFlow 1.5.1 "enum oxm_ofb_match_fields"). */
export const OXM = {
  IN_PORT: f('OXM_OF_IN_PORT', OXM_CLASS.OPENFLOW_BASIC, 0, 4),
  ETH_DST: f('OXM_OF_ETH_DST', OXM_CLASS.OPENFLOW_BASIC, 3, 6),
  ETH_SRC: f('OXM_OF_ETH_SRC', OXM_CLASS.OPENFLOW_BASIC, 4, 6),
  ETH_TYPE: f('OXM_OF_ETH_TYPE', OXM_CLASS.OPENFLOW_BASIC, 5, 2),
  IP_PROTO: f('OXM_OF_IP_PROTO', OXM_CLASS.OPENFLOW_BASIC, 10, 1),
  IPV4_SRC: f('OXM_OF_IPV4_SRC', OXM_CLASS.OPENFLOW_BASIC, 11, 4),
  IPV4_DST: f('OXM_OF_IPV4_DST', OXM_CLASS.OPENFLOW_BASIC, 12, 4),
  TCP_SRC: f('OXM_OF_TCP_SRC', OXM_CLASS.OPENFLOW_BASIC, 13, 2),
  TCP_DST: f('OXM_OF_TCP_DST', OXM_CLASS.OPENFLOW_BASIC, 14, 2),
  UDP_SRC: f('OXM_OF_UDP_SRC', OXM_CLASS.OPENFLOW_BASIC, 15, 2),
  UDP_DST: f('OXM_OF_UDP_DST', OXM_CLASS.OPENFLOW_BASIC, 16, 2),
  SCTP_SRC: f('OXM_OF_SCTP_SRC', OXM_CLASS.OPENFLOW_BASIC, 17, 2),
  SCTP_DST: f('OXM_OF_SCTP_DST', OXM_CLASS.OPENFLOW_BASIC, 18, 2),
  ARP_OP: f('OXM_OF_ARP_OP', OXM_CLASS.OPENFLOW_BASIC, 21, 2),
  ARP_SPA: f('OXM_OF_ARP_SPA', OXM_CLASS.OPENFLOW_BASIC, 22, 4),
  ARP_TPA: f('OXM_OF_ARP_TPA', OXM_CLASS.OPENFLOW_BASIC, 23, 4),
  ARP_SHA: f('OXM_OF_ARP_SHA', OXM_CLASS.OPENFLOW_BASIC, 24, 6),
  ARP_THA: f('OXM_OF_ARP_THA', OXM_CLASS.OPENFLOW_BASIC, 25, 6),
  TUNNEL_ID: f('OXM_OF_TUNNEL_ID', OXM_CLASS.OPENFLOW_BASIC, 38, 8),
} as const;

/** Open vSwitch extension fields (lib/meta-flow.h, "NXM: NXM_NX_...(n)"). */
export const NXM = {
  OF_IN_PORT: f('NXM_OF_IN_PORT', OXM_CLASS.NXM_0, 0, 2),
  OF_ETH_DST: f('NXM_OF_ETH_DST', OXM_CLASS.NXM_0, 1, 6),
  OF_ETH_SRC: f('NXM_OF_ETH_SRC', OXM_CLASS.NXM_0, 2, 6),
  OF_ETH_TYPE: f('NXM_OF_ETH_TYPE', OXM_CLASS.NXM_0, 3, 2),
  OF_VLAN_TCI: f('NXM_OF_VLAN_TCI', OXM_CLASS.NXM_0, 4, 2),
  OF_IP_TOS: f('NXM_OF_IP_TOS', OXM_CLASS.NXM_0, 5, 1),
  OF_IP_PROTO: f('NXM_OF_IP_PROTO', OXM_CLASS.NXM_0, 6, 1),
  OF_IP_SRC: f('NXM_OF_IP_SRC', OXM_CLASS.NXM_0, 7, 4),
  OF_IP_DST: f('NXM_OF_IP_DST', OXM_CLASS.NXM_0, 8, 4),
  OF_TCP_SRC: f('NXM_OF_TCP_SRC', OXM_CLASS.NXM_0, 9, 2),
  OF_TCP_DST: f('NXM_OF_TCP_DST', OXM_CLASS.NXM_0, 10, 2),
  OF_UDP_SRC: f('NXM_OF_UDP_SRC', OXM_CLASS.NXM_0, 11, 2),
  OF_UDP_DST: f('NXM_OF_UDP_DST', OXM_CLASS.NXM_0, 12, 2),
  OF_ICMP_TYPE: f('NXM_OF_ICMP_TYPE', OXM_CLASS.NXM_0, 13, 1),
  OF_ICMP_CODE: f('NXM_OF_ICMP_CODE', OXM_CLASS.NXM_0, 14, 1),
  OF_ARP_OP: f('NXM_OF_ARP_OP', OXM_CLASS.NXM_0, 15, 2),
  OF_ARP_SPA: f('NXM_OF_ARP_SPA', OXM_CLASS.NXM_0, 16, 4),
  OF_ARP_TPA: f('NXM_OF_ARP_TPA', OXM_CLASS.NXM_0, 17, 4),
  NX_TUN_ID: f('NXM_NX_TUN_ID', OXM_CLASS.NXM_1, 16, 8),
  NX_ARP_SHA: f('NXM_NX_ARP_SHA', OXM_CLASS.NXM_1, 17, 6),
  NX_ARP_THA: f('NXM_NX_ARP_THA', OXM_CLASS.NXM_1, 18, 6),
  NX_IP_TTL: f('NXM_NX_IP_TTL', OXM_CLASS.NXM_1, 29, 1),
  NX_TUN_IPV4_SRC: f('NXM_NX_TUN_IPV4_SRC', OXM_CLASS.NXM_1, 31, 4),
  NX_TUN_IPV4_DST: f('NXM_NX_TUN_IPV4_DST', OXM_CLASS.NXM_1, 32, 4),
  NX_PKT_MARK: f('NXM_NX_PKT_MARK', OXM_CLASS.NXM_1, 33, 4),
  NX_CONJ_ID: f('NXM_NX_CONJ_ID', OXM_CLASS.NXM_1, 37, 4),
  NX_CT_STATE: f('NXM_NX_CT_STATE', OXM_CLASS.NXM_1, 105, 4),
  NX_CT_ZONE: f('NXM_NX_CT_ZONE', OXM_CLASS.NXM_1, 106, 2),
  NX_CT_MARK: f('NXM_NX_CT_MARK', OXM_CLASS.NXM_1, 107, 4),
  NX_CT_LABEL: f('NXM_NX_CT_LABEL', OXM_CLASS.NXM_1, 108, 16),
} as const;

/** NXM_NX_REG0..15: class 0x0001, field n, 4 bytes (OVS has 16 registers, see validate.checkReg). */
export function nxmReg(n: number): OxmField {
  if (!Number.isInteger(n) || n < 0 || n > 15) throw new Error(`OpenFlow encoding: register ${n} is not 0..15`);
  return f(`NXM_NX_REG${n}`, OXM_CLASS.NXM_1, n, 4);
}

/** Every field a `move` or `output:FIELD[]` may name, by its NXM/OXM name. */
export const FIELDS_BY_NAME: ReadonlyMap<string, OxmField> = new Map(
  [...Object.values(OXM), ...Object.values(NXM), ...Array.from({ length: 16 }, (_, i) => nxmReg(i))].map((x) => [x.name, x]),
);

/**
 * Thrown for input the text path accepts but this encoder does not know how to put on the wire
 * (e.g. a move naming a field outside FIELDS_BY_NAME): the client sends such a bundle through
 * ovs-ofctl instead. Never thrown for values that are simply invalid.
 */
export class NotNativelyEncodable extends Error {}

/** A field reference of a move / output action: `NAME[]`, `NAME[bit]` or `NAME[start..end]`. */
export interface FieldRef {
  field: OxmField;
  ofs: number;
  nBits: number;
}

/**
 * NXM fields that have an OpenFlow-basic twin of the same width. OVS decodes either header to the same
 * field; like ovs-ofctl (lib/nx-match.c nx_put_mff_header for 1.5) we put the OXM header on the wire.
 */
const OXM_TWIN: ReadonlyMap<string, OxmField> = new Map([
  ['NXM_OF_ETH_DST', OXM.ETH_DST], ['NXM_OF_ETH_SRC', OXM.ETH_SRC], ['NXM_OF_ETH_TYPE', OXM.ETH_TYPE],
  ['NXM_OF_IP_PROTO', OXM.IP_PROTO], ['NXM_OF_IP_SRC', OXM.IPV4_SRC], ['NXM_OF_IP_DST', OXM.IPV4_DST],
  ['NXM_OF_TCP_SRC', OXM.TCP_SRC], ['NXM_OF_TCP_DST', OXM.TCP_DST], ['NXM_OF_UDP_SRC', OXM.UDP_SRC], ['NXM_OF_UDP_DST', OXM.UDP_DST],
  ['NXM_OF_ARP_OP', OXM.ARP_OP], ['NXM_OF_ARP_SPA', OXM.ARP_SPA], ['NXM_OF_ARP_TPA', OXM.ARP_TPA],
  ['NXM_NX_ARP_SHA', OXM.ARP_SHA], ['NXM_NX_ARP_THA', OXM.ARP_THA], ['NXM_NX_TUN_ID', OXM.TUNNEL_ID],
]);

/** Parses a (renderer-validated) field reference; ranges beyond the field's width are refused as OVS does. */
export function parseFieldRef(what: string, ref: string): FieldRef {
  const m = /^([A-Z0-9_]+)\[(?:(\d+)(?:\.\.(\d+))?)?\]$/.exec(ref);
  if (m === null) throw new Error(`invalid ${what}: ${JSON.stringify(ref)} (expected a field reference like NXM_NX_REG2[] or NXM_NX_CT_LABEL[0..31])`);
  const field = OXM_TWIN.get(m[1] as string) ?? FIELDS_BY_NAME.get(m[1] as string);
  if (field === undefined) throw new NotNativelyEncodable(`${what} ${ref}: field ${m[1]} is not known to the native OpenFlow encoder`);
  const width = field.bytes * 8;
  if (m[2] === undefined) return { field, ofs: 0, nBits: width };
  const start = Number(m[2]);
  const end = m[3] === undefined ? start : Number(m[3]);
  if (end < start || end >= width) {
    throw new Error(`invalid ${what}: ${JSON.stringify(ref)} (bits ${start}..${end} are outside the ${width}-bit field ${field.name}, or reversed)`);
  }
  return { field, ofs: start, nBits: end - start + 1 };
}

/** The 32-bit TLV header; `length` counts value and mask bytes. */
export function oxmHeader(field: OxmField, hasMask: boolean): number {
  const length = hasMask ? field.bytes * 2 : field.bytes;
  return ((field.cls << 16) | (field.field << 9) | ((hasMask ? 1 : 0) << 8) | length) >>> 0;
}

/** Writes a TLV header; the caller writes the value (and the mask when `hasMask`) right after. */
function tlvHeader(w: Writer, field: OxmField, hasMask: boolean): Writer {
  return w.u32(oxmHeader(field, hasMask));
}

const ETH_TYPE = { ip: 0x0800, arp: 0x0806 } as const;
const IP_PROTO = { tcp: 6, udp: 17, sctp: 132, icmp: 1 } as const;
const L4_FIELDS = {
  tcp: { src: OXM.TCP_SRC, dst: OXM.TCP_DST },
  udp: { src: OXM.UDP_SRC, dst: OXM.UDP_DST },
  sctp: { src: OXM.SCTP_SRC, dst: OXM.SCTP_DST },
} as const;
/** ct_state bits (lib/packets.h CS_*), in the order flow-syntax prints them. */
export const CT_STATE_BITS: Readonly<Record<string, number>> = {
  new: 0x01, est: 0x02, rel: 0x04, rpl: 0x08, inv: 0x10, trk: 0x20, snat: 0x40, dnat: 0x80,
};
const ALL_ONES_128 = (1n << 128n) - 1n;
const ALL_ONES_64 = (1n << 64n) - 1n;

/** IPv4 address or CIDR (validated) as a TLV; nothing for /0 (the renderer leaves it out too). */
function writeIpv4(w: Writer, field: OxmField, what: string, value: string): void {
  const canonical = canonicalIpv4Cidr(what, value);
  if (canonical === null) return;
  const slash = canonical.indexOf('/');
  if (slash < 0) {
    tlvHeader(w, field, false).ipv4(canonical);
  } else {
    tlvHeader(w, field, true).ipv4(canonical.slice(0, slash)).prefixMask(Number(canonical.slice(slash + 1)));
  }
}

/** Register matches merged into one value/mask per register, sorted (same merge as flow-syntax renderRegs). */
export function mergeRegs(regs: RegMatch[]): Array<{ reg: number; value: number; mask: number }> {
  const merged = new Map<number, { value: number; mask: number }>();
  for (const r of regs) {
    const { start, width } = r.bits ? checkBits(`reg${r.reg} bits`, r.bits) : { start: 0, width: 32 };
    const fieldMax = width === 32 ? 0xffffffff : 2 ** width - 1;
    const mask = (fieldMax * 2 ** start) >>> 0;
    const value = (r.value * 2 ** start) >>> 0;
    const prev = merged.get(r.reg) ?? { value: 0, mask: 0 };
    merged.set(r.reg, { value: (prev.value | value) >>> 0, mask: (prev.mask | mask) >>> 0 });
  }
  return [...merged.entries()].sort(([a], [b]) => a - b).map(([reg, v]) => ({ reg, ...v }));
}

/** "+new+trk-est" (validated) -> value/mask of NXM_NX_CT_STATE. */
export function ctStateBits(text: string): { value: number; mask: number } {
  let value = 0;
  let mask = 0;
  for (const m of text.matchAll(/([+-])([a-z]+)/g)) {
    const bit = CT_STATE_BITS[m[2] as string];
    if (bit === undefined) throw new Error(`OpenFlow encoding: unknown ct_state flag ${m[2]}`);
    mask |= bit;
    if (m[1] === '+') value |= bit;
  }
  return { value, mask };
}

/**
 * OXM_OF_PKT_REG0..7 (class OFPXMC_PACKET_REGS 0x8001, 64 bits): xreg<i> holds reg<2i> in its upper and
 * reg<2i+1> in its lower 32 bits. ovs-ofctl matches registers this way in OpenFlow 1.5 (nx_put_raw).
 */
export function oxmPacketReg(i: number): OxmField {
  return f(`OXM_OF_PKT_REG${i}`, OXM_CLASS.PACKET_REGS, i, 8);
}

/**
 * Writes the complete ofp_match: type OFPMT_OXM, length (header + TLVs, without padding), the TLVs,
 * zero padding to 8. TLVs come in the order ovs-ofctl puts them on the wire for OpenFlow 1.5
 * (lib/nx-match.c nx_put_raw: conj_id, in_port, Ethernet, eth_type, IPv4 addresses, ip_proto, L4
 * ports, ARP, tunnel, registers, conntrack), which also satisfies OVS's in-order prerequisite check.
 * Validates exactly as renderMatch does (same errors).
 */
export function writeMatch(w: Writer, m: Match): void {
  renderMatch(m);
  const start = w.length;
  w.u16(OFPMT_OXM).u16(0);
  const proto = m.protocol;
  if (m.conjId !== undefined) tlvHeader(w, NXM.NX_CONJ_ID, false).u32(m.conjId);
  if (m.inPort !== undefined) tlvHeader(w, OXM.IN_PORT, false).u32(m.inPort);
  if (m.dlSrc !== undefined) tlvHeader(w, OXM.ETH_SRC, false).mac(checkMac('dl_src', m.dlSrc));
  if (m.dlDst !== undefined) tlvHeader(w, OXM.ETH_DST, false).mac(checkMac('dl_dst', m.dlDst));
  if (proto !== undefined) tlvHeader(w, OXM.ETH_TYPE, false).u16(proto === 'arp' ? ETH_TYPE.arp : ETH_TYPE.ip);
  if (proto !== undefined && proto !== 'arp') {
    if (m.nwSrc !== undefined) writeIpv4(w, OXM.IPV4_SRC, 'nw_src', m.nwSrc);
    if (m.nwDst !== undefined) writeIpv4(w, OXM.IPV4_DST, 'nw_dst', m.nwDst);
    if (proto !== 'ip') tlvHeader(w, OXM.IP_PROTO, false).u8(IP_PROTO[proto]);
    if (proto === 'tcp' || proto === 'udp' || proto === 'sctp') {
      for (const [p, field] of [[m.tpSrc, L4_FIELDS[proto].src], [m.tpDst, L4_FIELDS[proto].dst]] as const) {
        if (p === undefined) continue;
        const mask = p.mask ?? 0xffff;
        if (mask === 0) continue;
        if (mask === 0xffff) tlvHeader(w, field, false).u16(p.port);
        else tlvHeader(w, field, true).u16(p.port & mask).u16(mask);
      }
    }
  }
  if (proto === 'arp') {
    if (m.arpOp !== undefined) tlvHeader(w, OXM.ARP_OP, false).u16(m.arpOp);
    if (m.arpSpa !== undefined) writeIpv4(w, OXM.ARP_SPA, 'arp_spa', m.arpSpa);
    if (m.arpTpa !== undefined) writeIpv4(w, OXM.ARP_TPA, 'arp_tpa', m.arpTpa);
    if (m.arpSha !== undefined) tlvHeader(w, OXM.ARP_SHA, false).mac(checkMac('arp_sha', m.arpSha));
  }
  if (m.tunId !== undefined) tlvHeader(w, OXM.TUNNEL_ID, false).u64(BigInt(m.tunId));
  if (m.tunSrc !== undefined) tlvHeader(w, NXM.NX_TUN_IPV4_SRC, false).ipv4(checkIpv4('tun_src', m.tunSrc));
  if (m.regs !== undefined) {
    const xregs = new Map<number, { value: bigint; mask: bigint }>();
    for (const { reg, value, mask } of mergeRegs(m.regs)) {
      const shift = reg % 2 === 0 ? 32n : 0n;
      const x = xregs.get(reg >> 1) ?? { value: 0n, mask: 0n };
      xregs.set(reg >> 1, { value: x.value | (BigInt((value & mask) >>> 0) << shift), mask: x.mask | (BigInt(mask) << shift) });
    }
    for (const [i, { value, mask }] of [...xregs.entries()].sort(([a], [b]) => a - b)) {
      if (mask === ALL_ONES_64) tlvHeader(w, oxmPacketReg(i), false).u64(value);
      else tlvHeader(w, oxmPacketReg(i), true).u64(value).u64(mask);
    }
  }
  if (m.ctState !== undefined) {
    const { value, mask } = ctStateBits(m.ctState);
    tlvHeader(w, NXM.NX_CT_STATE, true).u32(value).u32(mask);
  }
  if (m.ctLabel !== undefined) {
    const mask = m.ctLabel.mask ?? ALL_ONES_128;
    const value = m.ctLabel.value & mask;
    if (mask === ALL_ONES_128) tlvHeader(w, NXM.NX_CT_LABEL, false).uint(value, 16);
    else if (mask !== 0n) tlvHeader(w, NXM.NX_CT_LABEL, true).uint(value, 16).uint(mask, 16);
  }
  w.patchU16(start + 2, w.length - start, 'ofp_match length');
  w.pad8From(start);
}

/** The ofp_match of `m` on its own (see writeMatch). */
export function encodeMatch(m: Match): Buffer {
  const w = new Writer(128);
  writeMatch(w, m);
  return w.finish();
}
