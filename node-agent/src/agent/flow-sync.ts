// Keeps OVS flows equal to the desired state. Every flow carries the current cookie round; a full
// resync installs everything under a new round and deletes the other rounds in the same bundle,
// so identical flows are replaced in place and traffic is never interrupted.
import { CookieKind, decodeCookie, LOOM_COOKIE_MAGIC, objectSelector, roundSelector, withRound } from '../pipeline/cookie.js';
import type { Flow } from '../pipeline/flow.js';
import { logger } from '../util/log.js';
import type { FlowOp, FlowTable } from './ports.js';

const log = logger('flows');

/** A source of desired flows (the pipeline, pods, tunnels, policies), rendered for a given round. */
export type FlowSource = (round: number) => Flow[];

export class FlowSync {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly table: FlowTable,
    private round: number,
  ) {}

  get currentRound(): number {
    return this.round;
  }

  /** Serialise bundles so a full resync never interleaves with an incremental change. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const p = this.queue.then(work, work);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Install flows of one object (adds replace identical flows). */
  install(flows: Flow[]): Promise<void> {
    return this.serial(() => this.table.apply(flows.map((f) => ({ op: 'add' as const, flow: { ...f, cookie: withRound(f.cookie, this.round) } }))));
  }

  /** Replace one object's flows atomically: delete its old flows, add the new ones. */
  replaceObject(kind: (typeof CookieKind)[keyof typeof CookieKind], id: number, flows: Flow[]): Promise<void> {
    const sel = objectSelector(kind, id);
    return this.serial(() =>
      this.table.apply([
        { op: 'delete', cookie: sel.cookie, mask: sel.mask },
        ...flows.map((f) => ({ op: 'add' as const, flow: { ...f, cookie: withRound(f.cookie, this.round) } })),
      ]),
    );
  }

  removeObject(kind: (typeof CookieKind)[keyof typeof CookieKind], id: number): Promise<void> {
    const sel = objectSelector(kind, id);
    return this.serial(() => this.table.apply([{ op: 'delete', cookie: sel.cookie, mask: sel.mask }]));
  }

  /** Apply a mixed set of operations in one bundle (cookies of added flows get the current round). */
  applyOps(ops: FlowOp[]): Promise<void> {
    return this.serial(() =>
      this.table.apply(ops.map((o) => (o.op === 'add' || o.op === 'modify' ? { op: 'add' as const, flow: { ...o.flow, cookie: withRound(o.flow.cookie, this.round) } } : o))),
    );
  }

  /**
   * Full resync under a new round: add every desired flow with the new round, then delete every
   * Loom flow of any other round, all in one bundle.
   */
  resync(desired: FlowSource): Promise<number> {
    return this.serial(async () => {
      const installed = await this.table.dump();
      const next = (this.round + 1) & 0xff;
      const staleRounds = new Set<number>();
      for (const f of installed) {
        const d = decodeCookie(f.cookie);
        if (d.loom && d.round !== next) staleRounds.add(d.round);
      }
      const flows = desired(next).map((f) => ({ ...f, cookie: withRound(f.cookie, next) }));
      const ops: FlowOp[] = flows.map((flow) => ({ op: 'add', flow }));
      for (const r of staleRounds) {
        const sel = roundSelector(r);
        ops.push({ op: 'delete', cookie: sel.cookie, mask: sel.mask });
      }
      await this.table.apply(ops);
      log.info('flows resynchronised', { round: next, flows: flows.length, staleRounds: [...staleRounds], installedBefore: installed.length });
      this.round = next;
      return next;
    });
  }
}

export const isLoomCookie = (c: bigint) => c >> 48n === LOOM_COOKIE_MAGIC;
