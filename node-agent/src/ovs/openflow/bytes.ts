// Big-endian byte building for OpenFlow wire structures. Every OpenFlow structure is in network byte
// order and most are padded to a multiple of 8 bytes (OpenFlow 1.5.1 spec, section 7: structures are
// "padded to 64 bits"). One growable Writer per message keeps encoding cheap (a resync sends ~10k
// FLOW_MODs; building each from dozens of small Buffers cost ~14 µs per flow, the Writer ~2 µs).

/** A value that does not fit its wire field: a bug in the caller, never bad user input (that is validated before). */
function overflow(what: string, value: unknown, bits: number): Error {
  return new Error(`OpenFlow encoding: ${what} ${String(value)} does not fit in ${bits} bits`);
}

export class Writer {
  private buf: Buffer;
  private len = 0;

  constructor(initial = 256) {
    this.buf = Buffer.alloc(initial);
  }

  get length(): number {
    return this.len;
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number, what = 'u8'): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw overflow(what, v, 8);
    this.room(1);
    this.buf[this.len++] = v;
    return this;
  }

  u16(v: number, what = 'u16'): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw overflow(what, v, 16);
    this.room(2);
    this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
    return this;
  }

  u32(v: number, what = 'u32'): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw overflow(what, v, 32);
    this.room(4);
    this.buf.writeUInt32BE(v, this.len);
    this.len += 4;
    return this;
  }

  u64(v: bigint, what = 'u64'): this {
    if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) throw overflow(what, v, 64);
    this.room(8);
    this.buf.writeBigUInt64BE(v, this.len);
    this.len += 8;
    return this;
  }

  /** An unsigned big-endian integer of `bytes` bytes (e.g. the 16 bytes of ct_label). */
  uint(v: bigint, bytes: number, what = 'value'): this {
    if (typeof v !== 'bigint' || v < 0n || v >= 1n << BigInt(bytes * 8)) throw overflow(what, v, bytes * 8);
    this.room(bytes);
    let x = v;
    for (let i = bytes - 1; i >= 0; i--) {
      this.buf[this.len + i] = Number(x & 0xffn);
      x >>= 8n;
    }
    this.len += bytes;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  zeros(n: number): this {
    this.room(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
    return this;
  }

  /** "aa:bb:cc:dd:ee:ff" (already validated) as 6 bytes. */
  mac(mac: string): this {
    this.room(6);
    for (let i = 0; i < 6; i++) this.buf[this.len + i] = parseInt(mac.slice(i * 3, i * 3 + 2), 16);
    this.len += 6;
    return this;
  }

  /** Dotted IPv4 (already validated) as 4 bytes. */
  ipv4(ip: string): this {
    this.room(4);
    let i = 0;
    for (const part of ip.split('.')) this.buf[this.len + i++] = Number(part);
    this.len += 4;
    return this;
  }

  /** Network mask of a prefix length, as 4 bytes. */
  prefixMask(prefix: number): this {
    return this.u32(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
  }

  /** Zero bytes up to a multiple of 8 counted from `start`. */
  pad8From(start: number): this {
    return this.zeros(pad8(this.len - start));
  }

  /** Overwrites a 16-bit length field written earlier. */
  patchU16(at: number, v: number, what = 'length'): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw overflow(what, v, 16);
    this.buf.writeUInt16BE(v, at);
    return this;
  }

  /** The bytes written so far (a copy: the Writer may be reused). */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

/** Bytes needed to bring `len` up to a multiple of 8. */
export function pad8(len: number): number {
  return (8 - (len % 8)) % 8;
}
