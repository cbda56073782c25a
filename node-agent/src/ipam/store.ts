// Durable IPAM state: one JSON file under the state dir, replaced atomically (write temp, fsync,
// rename, fsync dir). All changes go through one queue so concurrent requests never interleave.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { emptyIpamState, validateIpamState, withPodCidr, type IpamState } from './allocator.js';

export class IpamStore {
  private state!: IpamState;
  private queue: Promise<unknown> = Promise.resolve();

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

  /** Apply a pure change and persist it before resolving. The change may throw to abort. */
  update<T>(change: (s: IpamState) => { state: IpamState; value: T }): Promise<T> {
    const run = async () => {
      const { state, value } = change(this.state);
      if (state !== this.state) {
        await this.write(state);
        this.state = state;
      }
      return value;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
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
