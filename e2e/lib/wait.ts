// Polling helper for things that become true eventually (agent convergence, policy realization).
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const until = Date.now() + (opts.timeoutMs ?? 10000);
  let lastError = '';
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = (e as Error).message;
    }
    if (Date.now() > until) throw new Error(`timed out after ${opts.timeoutMs ?? 10000} ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}
