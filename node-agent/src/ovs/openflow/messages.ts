// OpenFlow 1.5 messages the native client sends and receives (OpenFlow 1.5.1 spec, sections 7.1, 7.3,
// 7.4, 7.5): the 8-byte header, HELLO with a version bitmap, ECHO, ERROR (decoded with the names
// ovs-ofctl prints, including Open vSwitch's Nicira experimenter errors), FLOW_MOD, BARRIER,
// BUNDLE_CONTROL and BUNDLE_ADD_MESSAGE. Pure functions: bytes in, bytes out.
//
// FlowOp -> FLOW_MOD follows what `ovs-ofctl -O OpenFlow15 bundle` sends for the same text line
// (ofctl.ts renderOp): add = OFPFC_ADD with the flow's cookie; modify = OFPFC_MODIFY_STRICT with
// cookie/cookie_mask 0 (OpenFlow 1.5 keeps the installed cookie and counters); deleteStrict =
// OFPFC_DELETE_STRICT on table/priority/match; delete = OFPFC_DELETE on cookie/cookie_mask in one
// table or OFPTT_ALL. Always buffer_id NO_BUFFER, out_port ANY, out_group ANY, flags 0, importance 0,
// no timeouts.
import type { Action, Match } from '../../pipeline/flow.js';
import type { FlowOp } from '../ofctl.js';
import { renderCookie, renderCookieSelector } from '../flow-syntax.js';
import { checkTable, checkUint, invalid } from '../validate.js';
import { writeInstructions } from './actions.js';
import { Writer } from './bytes.js';
import { writeMatch } from './oxm.js';

export const OFP_VERSION_1_5 = 0x06;
export const OFP_HEADER_LEN = 8;
/** OpenFlow message types used here (OpenFlow 1.5.1 "enum ofp_type"). */
export const OFPT = {
  HELLO: 0,
  ERROR: 1,
  ECHO_REQUEST: 2,
  ECHO_REPLY: 3,
  FLOW_MOD: 14,
  BARRIER_REQUEST: 20,
  BARRIER_REPLY: 21,
  BUNDLE_CONTROL: 33,
  BUNDLE_ADD_MESSAGE: 34,
} as const;
export const OFPFC = { ADD: 0, MODIFY: 1, MODIFY_STRICT: 2, DELETE: 3, DELETE_STRICT: 4 } as const;
export const OFPBCT = {
  OPEN_REQUEST: 0, OPEN_REPLY: 1, CLOSE_REQUEST: 2, CLOSE_REPLY: 3,
  COMMIT_REQUEST: 4, COMMIT_REPLY: 5, DISCARD_REQUEST: 6, DISCARD_REPLY: 7,
} as const;
/** Bundle flags: ATOMIC (all or nothing) | ORDERED (in order), as ovs-ofctl bundle sends them. */
export const OFPBF_ATOMIC = 1;
export const OFPBF_ORDERED = 2;
export const OFP_NO_BUFFER = 0xffffffff;
export const OFPP_ANY = 0xffffffff;
export const OFPG_ANY = 0xffffffff;
export const OFPTT_ALL = 0xff;
/** Priority ovs-ofctl uses when none is given (ignored by non-strict deletes). */
export const OFP_DEFAULT_PRIORITY = 0x8000;
/** HELLO element carrying the version bitmap. */
const OFPHET_VERSIONBITMAP = 1;
/** A message cannot be longer than its 16-bit length field. */
export const OFP_MAX_MESSAGE = 0xffff;

export interface OfpHeader {
  version: number;
  type: number;
  length: number;
  xid: number;
}

export function encodeHeader(type: number, length: number, xid: number): Buffer {
  if (length > OFP_MAX_MESSAGE) throw new Error(`OpenFlow message of ${length} bytes exceeds the 65535-byte limit of the length field`);
  return new Writer(8).u8(OFP_VERSION_1_5).u8(type).u16(length).u32(xid, 'xid').finish();
}

/** Starts a message in `w` (length patched by endMessage). */
function beginMessage(w: Writer, type: number, xid: number): number {
  const start = w.length;
  w.u8(OFP_VERSION_1_5).u8(type).u16(0).u32(xid, 'xid');
  return start;
}

function endMessage(w: Writer, start: number): Buffer {
  const length = w.length - start;
  if (length > OFP_MAX_MESSAGE) throw new Error(`OpenFlow message of ${length} bytes exceeds the 65535-byte limit of the length field`);
  w.patchU16(start + 2, length);
  return w.finish();
}

export function decodeHeader(buf: Buffer, offset = 0): OfpHeader {
  return { version: buf.readUInt8(offset), type: buf.readUInt8(offset + 1), length: buf.readUInt16BE(offset + 2), xid: buf.readUInt32BE(offset + 4) };
}

function message(type: number, xid: number, body: (w: Writer) => void = () => undefined): Buffer {
  const w = new Writer(64);
  const start = beginMessage(w, type, xid);
  body(w);
  return endMessage(w, start);
}

/** HELLO offering OpenFlow 1.5 only: one VERSIONBITMAP element with bit 6 set (padded to 8 bytes). */
export function encodeHello(xid: number): Buffer {
  return message(OFPT.HELLO, xid, (w) => w.u16(OFPHET_VERSIONBITMAP).u16(8).u32(1 << OFP_VERSION_1_5));
}

/**
 * The versions a peer's HELLO offers: its bitmap when it sent one, else every version up to the
 * header's (OpenFlow 1.5.1 section 7.5.1).
 */
export function helloVersions(msg: Buffer): Set<number> {
  const h = decodeHeader(msg);
  let at = OFP_HEADER_LEN;
  while (at + 4 <= h.length) {
    const type = msg.readUInt16BE(at);
    const len = msg.readUInt16BE(at + 2);
    if (len < 4 || at + len > h.length) break;
    if (type === OFPHET_VERSIONBITMAP) {
      const versions = new Set<number>();
      for (let word = 0; (word + 1) * 4 <= len - 4; word++) {
        const bits = msg.readUInt32BE(at + 4 + word * 4);
        for (let b = 0; b < 32; b++) if ((bits >>> b) & 1) versions.add(word * 32 + b);
      }
      return versions;
    }
    at += len + ((8 - (len % 8)) % 8);
  }
  return new Set(Array.from({ length: h.version }, (_, i) => i + 1));
}

export function encodeEchoReply(request: Buffer): Buffer {
  const h = decodeHeader(request);
  return message(OFPT.ECHO_REPLY, h.xid, (w) => w.bytes(request.subarray(OFP_HEADER_LEN, h.length)));
}

export function encodeBarrierRequest(xid: number): Buffer {
  return message(OFPT.BARRIER_REQUEST, xid);
}

export function encodeBundleControl(xid: number, bundleId: number, type: number, flags: number): Buffer {
  return message(OFPT.BUNDLE_CONTROL, xid, (w) => w.u32(bundleId, 'bundle id').u16(type).u16(flags));
}

export interface BundleControl {
  bundleId: number;
  type: number;
  flags: number;
}

export function decodeBundleControl(msg: Buffer): BundleControl {
  if (msg.length < 16) throw new Error(`OFPT_BUNDLE_CONTROL of ${msg.length} bytes is too short`);
  return { bundleId: msg.readUInt32BE(8), type: msg.readUInt16BE(12), flags: msg.readUInt16BE(14) };
}

/**
 * BUNDLE_ADD_MESSAGE wrapping `inner`. The outer xid is the inner message's xid: OVS reports an
 * error of the inner message at commit time with the inner xid, so one xid names the op either way.
 */
export function encodeBundleAdd(bundleId: number, flags: number, inner: Buffer): Buffer {
  const xid = decodeHeader(inner).xid;
  return message(OFPT.BUNDLE_ADD_MESSAGE, xid, (w) => w.u32(bundleId, 'bundle id').zeros(2).u16(flags).bytes(inner));
}

interface FlowModFields {
  cookie: bigint;
  cookieMask: bigint;
  table: number;
  command: number;
  priority: number;
  match: Match;
  /** the flow's actions and its table (for the forward-goto check); none for deletes */
  actions?: { list: Action[]; table: number };
}

function flowMod(xid: number, f: FlowModFields): Buffer {
  const w = new Writer(256);
  const start = beginMessage(w, OFPT.FLOW_MOD, xid);
  w.u64(f.cookie, 'cookie').u64(f.cookieMask, 'cookie mask')
    .u8(f.table, 'table').u8(f.command)
    .u16(0).u16(0) // idle_timeout, hard_timeout
    .u16(f.priority, 'priority')
    .u32(OFP_NO_BUFFER).u32(OFPP_ANY).u32(OFPG_ANY)
    .u16(0).u16(0); // flags, importance
  writeMatch(w, f.match);
  if (f.actions !== undefined) writeInstructions(w, f.actions.list, f.actions.table);
  return endMessage(w, start);
}

/** A FlowOp whose deleteStrict match is a Match value (a dumped match string is parsed first, see match-text.ts). */
export type NativeFlowOp = Exclude<FlowOp, { op: 'deleteStrict' }> | { op: 'deleteStrict'; table: number; priority: number; match: Match };

/** The FLOW_MOD of one op. Validates like the text path (renderFlow / renderMatch / renderCookieSelector). */
export function encodeFlowMod(xid: number, op: NativeFlowOp): Buffer {
  switch (op.op) {
    case 'add':
    case 'modify': {
      const fl = op.flow;
      checkTable('flow table', fl.table);
      checkUint('flow priority', fl.priority, 0xffff);
      renderCookie(fl.cookie);
      return flowMod(xid, {
        cookie: op.op === 'add' ? fl.cookie : 0n,
        cookieMask: 0n,
        table: fl.table,
        command: op.op === 'add' ? OFPFC.ADD : OFPFC.MODIFY_STRICT,
        priority: fl.priority,
        match: fl.match,
        actions: { list: fl.actions, table: fl.table },
      });
    }
    case 'deleteStrict':
      checkTable('flow table', op.table);
      checkUint('flow priority', op.priority, 0xffff);
      return flowMod(xid, { cookie: 0n, cookieMask: 0n, table: op.table, command: OFPFC.DELETE_STRICT, priority: op.priority, match: op.match });
    case 'delete': {
      // Same checks in the same order as the text path (ofctl.ts renderOp).
      const table = op.table === undefined ? OFPTT_ALL : checkTable('flow table', op.table);
      renderCookieSelector(op.cookie, op.mask);
      return flowMod(xid, {
        cookie: op.cookie,
        cookieMask: op.mask,
        table,
        command: OFPFC.DELETE,
        priority: OFP_DEFAULT_PRIORITY,
        match: {},
      });
    }
    default:
      throw invalid('flow op', (op as { op: unknown }).op, 'add, modify, deleteStrict or delete');
  }
}

// ---- errors ----------------------------------------------------------------------------------

export const OFPET_EXPERIMENTER = 0xffff;
export const ONF_VENDOR_ID = 0x4f4e4600;

/** OFPET_* type names and code names, spelled as Open vSwitch (and ovs-ofctl ofp-print) spell them. */
const ERROR_TYPES: Record<number, { type: string; prefix: string; codes: string[] }> = {
  0: { type: 'HELLO_FAILED', prefix: 'OFPHFC', codes: ['INCOMPATIBLE', 'EPERM'] },
  1: {
    type: 'BAD_REQUEST', prefix: 'OFPBRC',
    codes: ['BAD_VERSION', 'BAD_TYPE', 'BAD_STAT', 'BAD_VENDOR', 'BAD_SUBTYPE', 'EPERM', 'BAD_LEN', 'BUFFER_EMPTY', 'BUFFER_UNKNOWN', 'BAD_TABLE_ID',
      'IS_SECONDARY', 'BAD_PORT', 'BAD_PACKET', 'MULTIPART_BUFFER_OVERFLOW', 'MULTIPART_REQUEST_TIMEOUT', 'MULTIPART_REPLY_TIMEOUT', 'MULTIPART_BAD_SCHED',
      'PIPELINE_FIELDS_ONLY', 'UNKNOWN'],
  },
  2: {
    type: 'BAD_ACTION', prefix: 'OFPBAC',
    codes: ['BAD_TYPE', 'BAD_LEN', 'BAD_VENDOR', 'BAD_VENDOR_TYPE', 'BAD_OUT_PORT', 'BAD_ARGUMENT', 'EPERM', 'TOO_MANY', 'BAD_QUEUE', 'BAD_OUT_GROUP',
      'MATCH_INCONSISTENT', 'UNSUPPORTED_ORDER', 'BAD_TAG', 'BAD_SET_TYPE', 'BAD_SET_LEN', 'BAD_SET_ARGUMENT', 'BAD_SET_MASK', 'BAD_METER'],
  },
  3: {
    type: 'BAD_INSTRUCTION', prefix: 'OFPBIC',
    codes: ['UNKNOWN_INST', 'UNSUP_INST', 'BAD_TABLE_ID', 'UNSUP_METADATA', 'UNSUP_METADATA_MASK', 'BAD_EXPERIMENTER', 'BAD_EXP_TYPE', 'BAD_LEN', 'EPERM', 'DUP_INST'],
  },
  4: {
    type: 'BAD_MATCH', prefix: 'OFPBMC',
    codes: ['BAD_TYPE', 'BAD_LEN', 'BAD_TAG', 'BAD_DL_ADDR_MASK', 'BAD_NW_ADDR_MASK', 'BAD_WILDCARDS', 'BAD_FIELD', 'BAD_VALUE', 'BAD_MASK', 'BAD_PREREQ', 'DUP_FIELD', 'EPERM'],
  },
  5: {
    type: 'FLOW_MOD_FAILED', prefix: 'OFPFMFC',
    codes: ['UNKNOWN', 'TABLE_FULL', 'BAD_TABLE_ID', 'OVERLAP', 'EPERM', 'BAD_TIMEOUT', 'BAD_COMMAND', 'BAD_FLAGS', 'CANT_SYNC', 'BAD_PRIORITY', 'IS_SYNC'],
  },
  6: { type: 'GROUP_MOD_FAILED', prefix: 'OFPGMFC', codes: [] },
  7: { type: 'PORT_MOD_FAILED', prefix: 'OFPPMFC', codes: [] },
  8: { type: 'TABLE_MOD_FAILED', prefix: 'OFPTMFC', codes: [] },
  9: { type: 'QUEUE_OP_FAILED', prefix: 'OFPQOFC', codes: [] },
  10: { type: 'SWITCH_CONFIG_FAILED', prefix: 'OFPSCFC', codes: [] },
  11: { type: 'ROLE_REQUEST_FAILED', prefix: 'OFPRRFC', codes: [] },
  12: { type: 'METER_MOD_FAILED', prefix: 'OFPMMFC', codes: [] },
  13: { type: 'TABLE_FEATURES_FAILED', prefix: 'OFPTFFC', codes: [] },
  14: { type: 'BAD_PROPERTY', prefix: 'OFPBPC', codes: [] },
  15: { type: 'ASYNC_CONFIG_FAILED', prefix: 'OFPACFC', codes: [] },
  16: { type: 'FLOW_MONITOR_FAILED', prefix: 'OFPMOFC', codes: [] },
  17: {
    type: 'BUNDLE_FAILED', prefix: 'OFPBFC',
    codes: ['UNKNOWN', 'EPERM', 'BAD_ID', 'BUNDLE_EXIST', 'BUNDLE_CLOSED', 'OUT_OF_BUNDLES', 'BAD_TYPE', 'BAD_FLAGS', 'MSG_BAD_LEN', 'MSG_BAD_XID',
      'MSG_UNSUP', 'MSG_CONFLICT', 'MSG_TOO_MANY', 'MSG_FAILED', 'TIMEOUT', 'BUNDLE_IN_PROGRESS', 'SCHED_NOT_SUPPORTED', 'SCHED_FUTURE', 'SCHED_PAST'],
  },
};

/** Open vSwitch extension errors (OFPET_EXPERIMENTER, experimenter NX_VENDOR_ID), by exp_type. */
const NX_ERRORS: Record<number, string> = {
  2: 'NXBRC_NXM_INVALID', 3: 'NXBRC_NXM_BAD_TYPE', 4: 'NXBRC_MUST_BE_ZERO', 5: 'NXBRC_BAD_REASON', 9: 'NXBRC_FM_BAD_EVENT',
  10: 'NXBRC_UNENCODABLE_ERROR', 11: 'NXBAC_MUST_BE_ZERO', 12: 'NXFMFC_HARDWARE', 13: 'NXFMFC_BAD_TABLE_ID', 15: 'NXBAC_BAD_CONJUNCTION',
  37: 'NXFMFC_INVALID_TLV_FIELD', 39: 'NXBAC_BAD_HEADER_TYPE', 42: 'NXBAC_CT_DATAPATH_SUPPORT', 43: 'NXBMC_CT_DATAPATH_SUPPORT',
};

/** Short advice for the errors a flow bundle can meet. */
const ERROR_HINTS: Record<string, string> = {
  OFPBAC_BAD_SET_ARGUMENT: 'a set_field/move writes a field that cannot be written there (e.g. ct_label outside ct exec())',
  OFPBAC_BAD_ARGUMENT: 'an action argument is not acceptable here (e.g. ct exec() writing a field other than ct_mark/ct_label)',
  OFPBAC_BAD_OUT_PORT: 'an output port is out of range',
  OFPBMC_BAD_PREREQ: 'a match field lacks its prerequisite (e.g. nw_src without eth_type)',
  OFPFMFC_TABLE_FULL: 'the flow table is full (flow_limit in the Flow_Table record?)',
  OFPBIC_BAD_TABLE_ID: 'goto_table must jump to a later table',
  NXBAC_CT_DATAPATH_SUPPORT: 'the datapath lacks a conntrack feature this action needs',
  OFPBFC_MSG_FAILED: 'one message of the bundle failed; its own error names it',
};

export interface DecodedError {
  xid: number;
  type: number;
  code: number;
  /** e.g. "OFPBAC_BAD_SET_ARGUMENT", or a numeric description for unknown codes */
  name: string;
  /** e.g. "BAD_ACTION" */
  typeName: string;
  experimenter?: number;
  /** the failed request (at least its first 64 bytes), when the switch included it */
  data: Buffer;
  /** header of the failed request, when data holds one */
  failed?: OfpHeader;
  hint?: string;
}

/** OpenFlow name of an error type/code, as ovs-ofctl prints it. */
export function errorName(type: number, code: number, experimenter?: number): { name: string; typeName: string } {
  if (type === OFPET_EXPERIMENTER) {
    const vendor = experimenter ?? 0;
    const known = vendor === 0x00002320 ? NX_ERRORS[code] : undefined;
    return { name: known ?? `experimenter 0x${vendor.toString(16)} error ${code}`, typeName: 'EXPERIMENTER' };
  }
  const t = ERROR_TYPES[type];
  if (t === undefined) return { name: `error type ${type} code ${code}`, typeName: `type ${type}` };
  const c = t.codes[code];
  return { name: c === undefined ? `${t.prefix} code ${code}` : `${t.prefix}_${c}`, typeName: t.type };
}

export function decodeError(msg: Buffer): DecodedError {
  const h = decodeHeader(msg);
  if (h.length < 12) throw new Error(`OFPT_ERROR of ${h.length} bytes is too short`);
  const type = msg.readUInt16BE(8);
  const code = msg.readUInt16BE(10);
  let experimenter: number | undefined;
  let dataAt = 12;
  if (type === OFPET_EXPERIMENTER && h.length >= 16) {
    experimenter = msg.readUInt32BE(12);
    dataAt = 16;
  }
  const data = msg.subarray(dataAt, h.length);
  const { name, typeName } = errorName(type, code, experimenter);
  const out: DecodedError = { xid: h.xid, type, code, name, typeName, data };
  if (experimenter !== undefined) out.experimenter = experimenter;
  if (data.length >= OFP_HEADER_LEN) out.failed = decodeHeader(data);
  const hint = ERROR_HINTS[name];
  if (hint !== undefined) out.hint = hint;
  return out;
}

/** Names of message types, for error messages. */
export const OFPT_NAMES: Record<number, string> = Object.fromEntries(Object.entries(OFPT).map(([k, v]) => [v, `OFPT_${k}`]));
