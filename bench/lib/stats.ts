// Order statistics for benchmark samples.

/** Nearest-rank quantile (q in 0..1) of the samples; NaN for no samples. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const s = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * s.length));
  return s[Math.min(rank, s.length) - 1] as number;
}

export const median = (samples: readonly number[]): number => quantile(samples, 0.5);
