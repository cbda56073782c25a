// Token bucket: at most `burst` events at once and `ratePerSecond` on average; counts what it refused.
export class TokenBucket {
  private tokens: number;
  private last: number;
  suppressed = 0;

  constructor(readonly ratePerSecond: number, readonly burst: number, private readonly now: () => number = () => Date.now()) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new Error(`token bucket needs rate > 0 and burst >= 1, got ${ratePerSecond}/${burst}`);
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.suppressed++;
    return false;
  }

  /** Number refused since the last call. */
  drainSuppressed(): number {
    const n = this.suppressed;
    this.suppressed = 0;
    return n;
  }
}
