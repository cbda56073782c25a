// Kubernetes resource quantities (resource.Quantity) as bandwidth annotations use them, parsed
// exactly (BigInt, no floating point) into bits per second and range-checked like kubelet: 1k..1P.
// Pure: no I/O.

/** Bandwidth limits kubelet accepts (bits/s). */
export const MIN_BANDWIDTH_BPS = 1_000;
export const MAX_BANDWIDTH_BPS = 1_000_000_000_000_000;

/** A bad bandwidth value; `source` names where it came from (annotation or runtimeConfig field). */
export class BandwidthValueError extends Error {
  constructor(
    readonly source: string,
    readonly value: string,
    reason: string,
  ) {
    super(`${source}=${JSON.stringify(value)} is invalid: ${reason}`);
  }
}

const BINARY: Record<string, bigint> = { Ki: 1n << 10n, Mi: 1n << 20n, Gi: 1n << 30n, Ti: 1n << 40n, Pi: 1n << 50n, Ei: 1n << 60n };
const DECIMAL_EXP: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
// <sign><digits>[.<digits>] then a binary suffix, a decimal suffix or an exponent (e/E<signed int>).
const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d{1,4}))?$/;
const EXAMPLES = 'expected a Kubernetes quantity in bits per second such as 500k, 10M, 1G or 1Gi';

/**
 * The value of a quantity rounded up to an integer, as Quantity.Value() does.
 * Throws BandwidthValueError naming `source` when the text is not a quantity.
 */
export function parseQuantity(source: string, text: string): bigint {
  const m = QUANTITY.exec(text);
  if (!m) throw new BandwidthValueError(source, text, EXAMPLES);
  const [, sign, number, suffix, exponent] = m;
  const [whole = '', frac = ''] = number!.split('.');
  let num = BigInt(`${whole}${frac}` || '0');
  let den = 10n ** BigInt(frac.length);
  if (suffix !== undefined && BINARY[suffix] !== undefined) {
    num *= BINARY[suffix]!;
  } else {
    const exp = exponent !== undefined ? Number(exponent) : DECIMAL_EXP[suffix ?? '']!;
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else den *= 10n ** BigInt(-exp);
  }
  if (sign === '-') num = -num;
  // Round up (towards +infinity), like Quantity.Value().
  const q = num / den;
  return num % den !== 0n && num > 0n ? q + 1n : q;
}

/** A bandwidth quantity in bits/s within kubelet's range 1k..1P; errors name `source` and the value. */
export function parseBandwidth(source: string, text: string): number {
  const bits = parseQuantity(source, text);
  if (bits < BigInt(MIN_BANDWIDTH_BPS) || bits > BigInt(MAX_BANDWIDTH_BPS)) {
    throw new BandwidthValueError(source, text, 'outside the allowed range 1k..1P bits per second');
  }
  return Number(bits);
}

/** Checks an integer rate (bits/s) from runtimeConfig against the same range. */
export function checkBandwidthBps(source: string, bps: number): number {
  if (!Number.isSafeInteger(bps) || bps < MIN_BANDWIDTH_BPS || bps > MAX_BANDWIDTH_BPS) {
    throw new BandwidthValueError(source, String(bps), 'outside the allowed range 1k..1P bits per second (1000..1e15)');
  }
  return bps;
}

/** Short human form of a rate for logs and messages: 10M, 1.5G, 500k. */
export function formatBps(bps: number): string {
  for (const [unit, f] of [['P', 1e15], ['T', 1e12], ['G', 1e9], ['M', 1e6], ['k', 1e3]] as const) {
    if (bps >= f) return `${Number((bps / f).toFixed(3))}${unit}`;
  }
  return String(bps);
}
