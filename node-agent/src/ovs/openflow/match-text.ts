// A dumped match string (what `ovs-ofctl dump-flows` printed, e.g. "ct_state=+new+trk,ip,nw_src=10.0.0.0/8")
// back to a Match value, so a `deleteStrict` produced by planReconcile from a dump can be sent natively.
// Only the exact canonical forms renderMatch produces are accepted, and the result is checked by
// rendering it again: parseDumpedMatch(s) is either a Match whose renderMatch() is exactly `s`, or
// null (the client then sends that bundle through ovs-ofctl, which parses any OVS syntax).
import type { Match, Protocol, RegMatch } from '../../pipeline/flow.js';
import { renderMatch } from '../flow-syntax.js';

const PROTOCOLS = new Set<string>(['ip', 'arp', 'tcp', 'udp', 'sctp', 'icmp']);
const DEC = /^\d+$/;
const HEX = /^0x[0-9a-f]+$|^0$/;

const num = (s: string): number | null => (DEC.test(s) ? Number(s) : HEX.test(s) ? Number(BigInt(s)) : null);

/** A contiguous 32-bit mask -> [start, end], or null. */
function maskBits(mask: number): [number, number] | null {
  if (mask === 0) return null;
  let start = 0;
  while (((mask >>> start) & 1) === 0) start++;
  let end = start;
  while (end < 31 && ((mask >>> (end + 1)) & 1) === 1) end++;
  const width = end - start + 1;
  const rebuilt = ((width === 32 ? 0xffffffff : 2 ** width - 1) * 2 ** start) >>> 0;
  return rebuilt === mask >>> 0 ? [start, end] : null;
}

function parseReg(value: string): Omit<RegMatch, 'reg'> | null {
  const [v, m, extra] = value.split('/');
  if (v === undefined || extra !== undefined) return null;
  const val = num(v);
  if (val === null || val > 0xffffffff) return null;
  if (m === undefined) return { value: val };
  const mask = num(m);
  if (mask === null || mask > 0xffffffff) return null;
  const bits = maskBits(mask);
  if (bits === null) return null;
  return { value: (val >>> bits[0]) & ((2 ** (bits[1] - bits[0] + 1)) - 1), bits };
}

/** Parses a canonical dumped match; null when it is not exactly what renderMatch would print for some Match. */
export function parseDumpedMatch(text: string): Match | null {
  if (typeof text !== 'string') return null;
  const m: Match = {};
  const regs: RegMatch[] = [];
  if (text !== '') {
    for (const token of text.split(',')) {
      if (PROTOCOLS.has(token)) {
        if (m.protocol !== undefined) return null;
        m.protocol = token as Protocol;
        continue;
      }
      const eq = token.indexOf('=');
      if (eq <= 0) return null;
      const key = token.slice(0, eq);
      const value = token.slice(eq + 1);
      const reg = /^reg(\d{1,2})$/.exec(key);
      if (reg !== null) {
        const r = parseReg(value);
        if (r === null) return null;
        regs.push({ reg: Number(reg[1]), ...r });
        continue;
      }
      switch (key) {
        case 'conj_id': {
          const n = num(value);
          if (n === null) return null;
          m.conjId = n;
          break;
        }
        case 'ct_state':
          m.ctState = value;
          break;
        case 'ct_label': {
          const [v, mask, extra] = value.split('/');
          if (v === undefined || !HEX.test(v) || extra !== undefined || (mask !== undefined && !HEX.test(mask))) return null;
          m.ctLabel = mask === undefined ? { value: BigInt(v) } : { value: BigInt(v), mask: BigInt(mask) };
          break;
        }
        case 'tun_id': {
          const n = num(value);
          if (n === null) return null;
          m.tunId = n;
          break;
        }
        case 'tun_src':
          m.tunSrc = value;
          break;
        case 'in_port': {
          const n = num(value);
          if (n === null) return null;
          m.inPort = n;
          break;
        }
        case 'dl_src':
          m.dlSrc = value;
          break;
        case 'dl_dst':
          m.dlDst = value;
          break;
        case 'nw_src':
          m.nwSrc = value;
          break;
        case 'nw_dst':
          m.nwDst = value;
          break;
        case 'arp_spa':
          m.arpSpa = value;
          break;
        case 'arp_tpa':
          m.arpTpa = value;
          break;
        case 'arp_sha':
          m.arpSha = value;
          break;
        case 'arp_op': {
          const n = num(value);
          if (n !== 1 && n !== 2) return null;
          m.arpOp = n;
          break;
        }
        case 'tp_src':
        case 'tp_dst': {
          const [v, mask, extra] = value.split('/');
          if (v === undefined || extra !== undefined) return null;
          const port = num(v);
          const pm = mask === undefined ? undefined : num(mask);
          if (port === null || pm === null) return null;
          const p = pm === undefined ? { port } : { port, mask: pm };
          if (key === 'tp_src') m.tpSrc = p;
          else m.tpDst = p;
          break;
        }
        default:
          return null;
      }
    }
  }
  if (regs.length > 0) m.regs = regs;
  try {
    return renderMatch(m) === text ? m : null;
  } catch {
    return null;
  }
}
