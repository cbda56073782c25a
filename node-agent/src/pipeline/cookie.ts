// Cookie layout (64 bits):  [63..48] Loom magic  [47..40] round  [39..32] object kind  [31..0] object id
// Any installed flow can be traced back to what produced it; flows of one round or one object can be
// selected with a cookie mask.

export const LOOM_COOKIE_MAGIC = 0x4c4dn; // "LM"
export const CookieKind = {
  Pipeline: 1,
  Pod: 2,
  Node: 3,
  PolicyRule: 4,
  PolicyIsolation: 5,
} as const;
export type CookieKindValue = (typeof CookieKind)[keyof typeof CookieKind];

const MAGIC_MASK = 0xffff_0000_0000_0000n;
const ROUND_MASK = 0x0000_ff00_0000_0000n;
const KIND_MASK = 0x0000_00ff_0000_0000n;
const ID_MASK = 0x0000_0000_ffff_ffffn;

export function makeCookie(round: number, kind: CookieKindValue, id: number): bigint {
  return (
    (LOOM_COOKIE_MAGIC << 48n) |
    (BigInt(round & 0xff) << 40n) |
    (BigInt(kind & 0xff) << 32n) |
    (BigInt(id >>> 0) & ID_MASK)
  );
}

export interface DecodedCookie {
  loom: boolean;
  round: number;
  kind: number;
  id: number;
}

export function decodeCookie(c: bigint): DecodedCookie {
  return {
    loom: (c & MAGIC_MASK) >> 48n === LOOM_COOKIE_MAGIC,
    round: Number((c & ROUND_MASK) >> 40n),
    kind: Number((c & KIND_MASK) >> 32n),
    id: Number(c & ID_MASK),
  };
}

/** Replace the round of a cookie (used when replaying the desired state under a new round). */
export function withRound(c: bigint, round: number): bigint {
  return (c & ~ROUND_MASK) | (BigInt(round & 0xff) << 40n);
}

/** Value/mask selecting every Loom flow of one round. */
export function roundSelector(round: number): { cookie: bigint; mask: bigint } {
  return { cookie: (LOOM_COOKIE_MAGIC << 48n) | (BigInt(round & 0xff) << 40n), mask: MAGIC_MASK | ROUND_MASK };
}

/** Value/mask selecting every flow of one object, whatever the round. */
export function objectSelector(kind: CookieKindValue, id: number): { cookie: bigint; mask: bigint } {
  return {
    cookie: (LOOM_COOKIE_MAGIC << 48n) | (BigInt(kind) << 32n) | BigInt(id >>> 0),
    mask: MAGIC_MASK | KIND_MASK | ID_MASK,
  };
}

/** Stable 32-bit id (FNV-1a) for an object key such as "pod/<containerId>/<ifname>". */
export function objectId(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
