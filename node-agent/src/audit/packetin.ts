// Pure: parse the packet-ins `ovs-ofctl monitor ... -P nxt_packet_in` prints, e.g.
//   NXT_PACKET_IN (OF1.5) (xid=0x0): table_id=65 cookie=0x4c41000400000002 total_len=74 ct_state=new|trk,...,reg0=0x1,reg1=0x3,in_port=4 (via action) data_len=74 (unbuffered)
//   tcp,vlan_tci=0x0000,dl_src=..,nw_src=10.244.1.3,nw_dst=10.244.1.2,...,tp_src=48322,tp_dst=81,tcp_flags=syn tcp_csum:47eb

export interface PacketIn {
  table: number;
  cookie: bigint;
  /** registers present in the metadata (absent = 0) */
  regs: Record<number, number>;
  protocol: string;
  srcIp: string;
  dstIp: string;
  srcPort?: number;
  dstPort?: number;
}

const HEADER_RE = /^NXT_PACKET_IN2? .*?table_id=(\d+) cookie=(0x[0-9a-fA-F]+)/;

function fields(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of s.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq), part.slice(eq + 1));
    else if (part) out.set(part, '');
  }
  return out;
}

/** Incremental parser: feed lines, get a PacketIn when its packet line arrives. */
export class PacketInParser {
  private header: { table: number; cookie: bigint; regs: Record<number, number> } | undefined;

  push(line: string): PacketIn | undefined {
    const h = HEADER_RE.exec(line);
    if (h) {
      const regs: Record<number, number> = {};
      for (const m of line.matchAll(/\breg(\d+)=(0x[0-9a-fA-F]+|\d+)/g)) regs[Number(m[1])] = Number(m[2]);
      this.header = { table: Number(h[1]), cookie: BigInt(h[2] as string), regs };
      return undefined;
    }
    const hdr = this.header;
    if (!hdr) return undefined;
    const first = line.trim().split(' ')[0] ?? '';
    const f = fields(first);
    const src = f.get('nw_src');
    const dst = f.get('nw_dst');
    if (!src || !dst) return undefined; // continuation lines (userdata, etc.)
    this.header = undefined;
    const protocol = first.split(',')[0] ?? 'ip';
    const num = (k: string) => (f.has(k) ? Number(f.get(k)) : undefined);
    const srcPort = num('tp_src');
    const dstPort = num('tp_dst');
    return {
      ...hdr,
      protocol,
      srcIp: src,
      dstIp: dst,
      ...(srcPort !== undefined && protocol !== 'icmp' ? { srcPort } : {}),
      ...(dstPort !== undefined && protocol !== 'icmp' ? { dstPort } : {}),
    };
  }
}
