// Action[] -> OpenFlow 1.5 instructions: one OFPIT_APPLY_ACTIONS holding the action list, then
// OFPIT_GOTO_TABLE for `goto` (OpenFlow 1.5.1 section 7.2.5); `drop` (or no action) is no instruction
// at all. The meaning of every Action is the one flow-syntax.ts gives it (renderActions validates
// first, so the errors are the text path's); this module only chooses the wire structures:
//
//   output / IN_PORT   OFPAT_OUTPUT (ofp_action_output, 16 bytes; IN_PORT = OFPP_IN_PORT 0xfffffff8)
//   outputReg          NXAST_OUTPUT_REG (nx_action_output_reg, 24 bytes, include/openflow/nicira-ext.h)
//   setField, loadReg  OFPAT_SET_FIELD with one OXM TLV; a register bit range is a *masked* TLV, which
//                      OpenFlow 1.5 allows (OVS lib/ofp-actions.c: OFPAT_RAW15_SET_FIELD supersedes
//                      NXAST_REG_LOAD, which OVS no longer accepts in 1.5)
//   decTtl             OFPAT_DEC_NW_TTL
//   move               OFPAT_COPY_FIELD (ofp15_action_copy_field: OVS encodes `move` so in 1.5 and
//                      refuses NXAST_REG_MOVE there: it is "NX1.0-1.4(6)" in lib/ofp-actions.c)
//   arpReply           the 8 actions flow-syntax expands it to (moves, set_fields, IN_PORT)
//   ct                 NXAST_CT (nx_action_conntrack, 24 bytes + nested actions; immediate zone,
//                      recirc_table 0xff = none, alg 0), the exec() moves nested as COPY_FIELD
//   conjunction        NXAST_CONJUNCTION (nx_action_conjunction, 16 bytes; clause is 0-based on the wire)
// Every action is a multiple of 8 bytes long.
import type { Action } from '../../pipeline/flow.js';
import { renderActions } from '../flow-syntax.js';
import { checkIpv4, checkMac } from '../validate.js';
import { Writer } from './bytes.js';
import { NXM, OXM, nxmReg, oxmHeader, parseFieldRef, type OxmField } from './oxm.js';

export const OFPAT = { OUTPUT: 0, DEC_NW_TTL: 24, SET_FIELD: 25, COPY_FIELD: 28, EXPERIMENTER: 0xffff } as const;
export const OFPIT = { GOTO_TABLE: 1, APPLY_ACTIONS: 4 } as const;
/** Nicira's experimenter id (NX_VENDOR_ID) and the action subtypes used here. */
export const NX_VENDOR_ID = 0x00002320;
export const NXAST = { OUTPUT_REG: 15, CONJUNCTION: 34, CT: 35 } as const;
export const OFPP_IN_PORT = 0xfffffff8;
/** NX_CT_RECIRC_NONE (= OFPTT_ALL): the ct action does not recirculate. */
export const NX_CT_RECIRC_NONE = 0xff;
export const NX_CT_F_COMMIT = 0x0001;

function output(w: Writer, port: number): void {
  // max_len only matters for the controller port; ovs-ofctl sends 0 for every other port.
  w.u16(OFPAT.OUTPUT).u16(16).u32(port).u16(0).zeros(6);
}

/** OFPAT_SET_FIELD: header, one OXM TLV written by `tlv`, zero padding to 8, length patched. */
function setField(w: Writer, field: OxmField, masked: boolean, tlv: (w: Writer) => void): void {
  const start = w.length;
  w.u16(OFPAT.SET_FIELD).u16(0).u32(oxmHeader(field, masked));
  tlv(w);
  w.pad8From(start);
  w.patchU16(start + 2, w.length - start, 'set_field length');
}

function copyField(w: Writer, what: string, src: string, dst: string): void {
  const s = parseFieldRef(`${what} source`, src);
  const d = parseFieldRef(`${what} destination`, dst);
  if (s.nBits !== d.nBits) {
    // ovs-ofctl refuses this while parsing ("source field is N bits wide but destination is M bits wide").
    throw new Error(`invalid ${what}: ${src}->${dst} (source is ${s.nBits} bits wide but destination is ${d.nBits} bits wide)`);
  }
  w.u16(OFPAT.COPY_FIELD).u16(24).u16(s.nBits).u16(s.ofs).u16(d.ofs).zeros(2)
    .u32(oxmHeader(s.field, false)).u32(oxmHeader(d.field, false)).zeros(4);
}

function nxHeader(w: Writer, len: number, subtype: number): Writer {
  return w.u16(OFPAT.EXPERIMENTER).u16(len).u32(NX_VENDOR_ID).u16(subtype);
}

function outputReg(w: Writer, reg: number): void {
  const ofsNbits = (0 << 6) | (32 - 1); // (ofs << 6) | (n_bits - 1): the whole register
  // max_len 0xffff: what ovs-ofctl's parser sets for output:FIELD[].
  nxHeader(w, 24, NXAST.OUTPUT_REG).u16(ofsNbits).u32(oxmHeader(nxmReg(reg), false)).u16(0xffff).zeros(6);
}

function ct(w: Writer, a: Extract<Action, { type: 'ct' }>): void {
  const start = w.length;
  nxHeader(w, 0, NXAST.CT)
    .u16(a.commit ? NX_CT_F_COMMIT : 0)
    .u32(0) // zone_src 0: the zone is the immediate value below
    .u16(a.zone)
    .u8(a.table ?? NX_CT_RECIRC_NONE)
    .zeros(3)
    .u16(0); // alg: none
  for (const m of a.execMoves ?? []) copyField(w, 'ct exec move', m.src, m.dst);
  w.patchU16(start + 2, w.length - start, 'ct length');
}

function conjunction(w: Writer, a: Extract<Action, { type: 'conjunction' }>): void {
  nxHeader(w, 16, NXAST.CONJUNCTION).u8(a.clause - 1).u8(a.nClauses).u32(a.id);
}

function regLoad(w: Writer, reg: number, value: number, bits: [number, number] | undefined): void {
  const start = bits ? bits[0] : 0;
  const width = bits ? bits[1] - bits[0] + 1 : 32;
  const fieldMax = width === 32 ? 0xffffffff : 2 ** width - 1;
  const v = (value * 2 ** start) >>> 0;
  const mask = (fieldMax * 2 ** start) >>> 0;
  if (mask === 0xffffffff) setField(w, nxmReg(reg), false, (x) => x.u32(v));
  else setField(w, nxmReg(reg), true, (x) => x.u32(v).u32(mask));
}

/** One action (not goto/drop) as its wire structures; arpReply writes several. */
function writeAction(w: Writer, a: Action): void {
  switch (a.type) {
    case 'output':
      return output(w, a.port);
    case 'outputReg':
      return outputReg(w, a.reg);
    case 'inPort':
      return output(w, OFPP_IN_PORT);
    case 'setField':
      switch (a.field) {
        case 'eth_src':
          return setField(w, OXM.ETH_SRC, false, (x) => x.mac(checkMac('eth_src', a.value)));
        case 'eth_dst':
          return setField(w, OXM.ETH_DST, false, (x) => x.mac(checkMac('eth_dst', a.value)));
        case 'tun_dst':
          return setField(w, NXM.NX_TUN_IPV4_DST, false, (x) => x.ipv4(checkIpv4('tun_dst', a.value)));
        case 'tun_id':
          return setField(w, OXM.TUNNEL_ID, false, (x) => x.u64(BigInt(String(a.value))));
        default:
          throw new Error(`invalid set_field field: ${JSON.stringify((a as { field: unknown }).field)}`);
      }
    case 'loadReg':
      return regLoad(w, a.reg, a.value, a.bits);
    case 'arpReply': {
      const mac = checkMac('arp reply mac', a.mac);
      const ip = checkIpv4('arp reply ip', a.ip);
      copyField(w, 'move', 'NXM_OF_ETH_SRC[]', 'NXM_OF_ETH_DST[]');
      setField(w, OXM.ETH_SRC, false, (x) => x.mac(mac));
      setField(w, OXM.ARP_OP, false, (x) => x.u16(2));
      copyField(w, 'move', 'NXM_NX_ARP_SHA[]', 'NXM_NX_ARP_THA[]');
      setField(w, OXM.ARP_SHA, false, (x) => x.mac(mac));
      copyField(w, 'move', 'NXM_OF_ARP_SPA[]', 'NXM_OF_ARP_TPA[]');
      setField(w, OXM.ARP_SPA, false, (x) => x.ipv4(ip));
      return output(w, OFPP_IN_PORT);
    }
    case 'decTtl':
      w.u16(OFPAT.DEC_NW_TTL).u16(8).zeros(4);
      return;
    case 'move':
      return copyField(w, 'move', a.src, a.dst);
    case 'ct':
      return ct(w, a);
    case 'conjunction':
      return conjunction(w, a);
    case 'goto':
    case 'drop':
      throw new Error(`OpenFlow encoding: ${a.type} is an instruction, not an action`);
    default:
      throw new Error(`invalid action type: ${JSON.stringify((a as { type: unknown }).type)}`);
  }
}

/**
 * Writes the instruction list of a flow: APPLY_ACTIONS (when there is any action) then GOTO_TABLE
 * (when the list ends with `goto`). Validates as renderActions does; additionally refuses a `goto`
 * that is not the last action, which ovs-ofctl refuses too ("invalid instruction ordering").
 */
export function writeInstructions(w: Writer, actions: Action[], fromTable?: number): void {
  renderActions(actions, fromTable);
  if (actions.length === 1 && actions[0]?.type === 'drop') return;
  const gotoAt = actions.findIndex((a) => a.type === 'goto');
  if (gotoAt >= 0 && gotoAt !== actions.length - 1) {
    throw new Error(`invalid actions: ${JSON.stringify(actions.map((a) => a.type))} (goto must be the last action: it is an OpenFlow instruction that runs after the action list)`);
  }
  const last = actions[actions.length - 1];
  const applied = gotoAt >= 0 ? actions.length - 1 : actions.length;
  if (applied > 0) {
    const start = w.length;
    w.u16(OFPIT.APPLY_ACTIONS).u16(0).zeros(4);
    for (let i = 0; i < applied; i++) writeAction(w, actions[i]!);
    w.patchU16(start + 2, w.length - start, 'apply_actions length');
  }
  if (last?.type === 'goto') w.u16(OFPIT.GOTO_TABLE).u16(8).u8(last.table).zeros(3);
}

/** The instructions of `actions` on their own (see writeInstructions). */
export function encodeInstructions(actions: Action[], fromTable?: number): Buffer {
  const w = new Writer(128);
  writeInstructions(w, actions, fromTable);
  return w.finish();
}
