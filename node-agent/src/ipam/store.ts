// Durable IPAM state: one JSON file under the state dir, replaced atomically (write temp, fsync,
// rename, fsync dir). All changes go through one queue so concurrent requests never interleave.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { emptyIpamState, validateIpamState, withPodCidr, type IpamState } from './allocator.js';

interface PendingChange {
  change: (s: IpamState) => { state: IpamState; value: unknown };
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class IpamStore {
  private state!: IpamState;
  private pending: PendingChange[] = [];
  private writing = false;

  private constructor(readonly path: string) {}

  /** Load (or create) the store. A corrupt file is an error: the operator must look at it. */
  static async open(stateDir: string, podCidr: string): Promise<IpamStore> {
    const store = new IpamStore(join(stateDir, 'ipam.json'));
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    let text: string | undefined;
    try {
      text = await readFile(store.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text === undefined) {
      store.state = emptyIpamState(podCidr);
      await store.write(store.state);
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw new Error(`IPAM state ${store.path} is not valid JSON (${(e as Error).message}); fix or move the file away`);
      }
      store.state = withPodCidr(validateIpamState(parsed), podCidr);
    }
    return store;
  }

  get current(): IpamState {
    return this.state;
  }

  /**
   * Apply a pure change and persist it before resolving. The change may throw to abort (only that
   * change fails). Changes queued while a write is in flight are applied in order and committed
   * together with one write (group commit), so concurrent ADDs do not wait for one fsync each.
   */
  update<T>(change: (s: IpamState) => { state: IpamState; value: T }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ change, resolve: resolve as (v: unknown) => void, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        let next = this.state;
        const done: Array<{ p: PendingChange; value: unknown }> = [];
        for (const p of batch) {
          try {
            const r = p.change(next);
            next = r.state;
            done.push({ p, value: r.value });
          } catch (e) {
            p.reject(e);
          }
        }
        if (next !== this.state) {
          try {
            await this.write(next);
          } catch (e) {
            for (const d of done) d.p.reject(e);
            continue;
          }
          this.state = next;
        }
        for (const d of done) d.p.resolve(d.value);
      }
    } finally {
      this.writing = false;
    }
  }

  private async write(state: IpamState): Promise<void> {
    const tmp = `${this.path}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(state));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    const dir = await open(dirname(this.path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
