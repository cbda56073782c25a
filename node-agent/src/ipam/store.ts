// Durable IPAM state: one JSON file under the state dir, replaced atomically (write temp, fsync,
// rename, fsync dir). Changes apply in memory in call order; writes carry every change made while
// the previous write was in flight (group commit).
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { emptyIpamState, validateIpamState, withPodCidr, type IpamState } from './allocator.js';

export class IpamStore {
  /** Every change applied so far, in call order (what allocation decisions see). */
  private latest!: IpamState;
  /** The state last written to disk. */
  private durable!: IpamState;
  private writing: Promise<void> | undefined;
  /** The write that starts when the current one ends, shared by every change staged meanwhile (group commit). */
  private nextWrite: Promise<void> | undefined;

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
      store.latest = emptyIpamState(podCidr);
      await store.write(store.latest);
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw new Error(`IPAM state ${store.path} is not valid JSON (${(e as Error).message}); fix or move the file away`);
      }
      store.latest = withPodCidr(validateIpamState(parsed), podCidr);
    }
    store.durable = store.latest;
    return store;
  }

  /** The state with every change applied, including those still being written. */
  get current(): IpamState {
    return this.latest;
  }

  /**
   * Apply a pure change and persist it before resolving. The change may throw to abort (only that
   * change fails).
   */
  async update<T>(change: (s: IpamState) => { state: IpamState; value: T }): Promise<T> {
    const staged = this.stage(change);
    await staged.durable;
    return staged.value;
  }

  /**
   * Apply a pure change now — later changes see it — and write it in the background: `durable`
   * resolves once the state containing it is on disk (the caller must wait for it before anything
   * outside depends on the change, e.g. before answering a CNI ADD). Changes staged while a write
   * is in flight share the next write (group commit). Throws synchronously when the change throws.
   * A failed write rejects the `durable` of every change it carried; memory keeps the changes (the
   * callers undo theirs with new changes), and the next write brings the disk up to date.
   */
  stage<T>(change: (s: IpamState) => { state: IpamState; value: T }): { value: T; durable: Promise<void> } {
    const r = change(this.latest);
    if (r.state !== this.latest) this.latest = r.state;
    // Even an unchanged state may have been read from changes not yet on disk: wait for them too.
    const durable = this.latest === this.durable && this.writing === undefined ? Promise.resolve() : this.scheduleWrite();
    return { value: r.value, durable };
  }

  private scheduleWrite(): Promise<void> {
    if (this.writing === undefined) {
      this.writing = this.writeLatest().finally(() => {
        this.writing = undefined;
      });
      return this.writing;
    }
    if (this.nextWrite === undefined) {
      this.nextWrite = this.writing
        .catch(() => undefined)
        .then(() => {
          this.nextWrite = undefined;
          return this.scheduleWrite();
        });
    }
    return this.nextWrite;
  }

  private async writeLatest(): Promise<void> {
    const snapshot = this.latest;
    if (snapshot === this.durable) return;
    await this.write(snapshot);
    this.durable = snapshot;
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
