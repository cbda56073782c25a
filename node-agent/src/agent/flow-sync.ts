// Keeps OVS flows equal to the desired state. Every flow carries the current cookie round; a full
// resync installs everything under a new round and deletes the other rounds in the same bundle,
// so identical flows are replaced in place and traffic is never interrupted.
//
// All changes go through one queue. Incremental changes that queue up while a bundle is in flight
// are sent together as the next bundle (group commit: concurrent CNI ADDs share one ovs-ofctl run);
// if such a combined bundle is refused, each change is retried alone so only the bad one fails.
import { CookieKind, decodeCookie, LOOM_COOKIE_MAGIC, objectSelector, roundSelector, withRound } from '../pipeline/cookie.js';
import type { Flow } from '../pipeline/flow.js';
import { logger } from '../util/log.js';
import type { FlowOp, FlowTable } from './ports.js';

const log = logger('flows');

/** A source of desired flows (the pipeline, pods, tunnels, policies), rendered for a given round. */
export type FlowSource = (round: number) => Flow[];

type Job =
  | { kind: 'ops'; ops: () => FlowOp[]; resolve: () => void; reject: (e: unknown) => void }
  | { kind: 'exclusive'; work: () => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void };

export class FlowSync {
  private jobs: Job[] = [];
  private running = false;

  constructor(
    private readonly table: FlowTable,
    private round: number,
  ) {}

  get currentRound(): number {
    return this.round;
  }

  private stamp(ops: FlowOp[]): FlowOp[] {
    return ops.map((o) => (o.op === 'add' || o.op === 'modify' ? { op: 'add' as const, flow: { ...o.flow, cookie: withRound(o.flow.cookie, this.round) } } : o));
  }

  /** Queue flow operations; they are rendered with the round current when they are sent. */
  private enqueueOps(ops: () => FlowOp[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.jobs.push({ kind: 'ops', ops, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.jobs.push({ kind: 'exclusive', work, resolve: resolve as (v: unknown) => void, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.jobs.length > 0) {
        const first = this.jobs[0]!;
        if (first.kind === 'exclusive') {
          this.jobs.shift();
          await first.work().then(first.resolve, first.reject);
          continue;
        }
        const batch: Array<Extract<Job, { kind: 'ops' }>> = [];
        while (this.jobs[0]?.kind === 'ops') batch.push(this.jobs.shift() as Extract<Job, { kind: 'ops' }>);
        const rendered = batch.map((j) => {
          try {
            return this.stamp(j.ops());
          } catch (e) {
            j.reject(e);
            return undefined;
          }
        });
        const live = batch.filter((_, i) => rendered[i] !== undefined);
        const opsList = rendered.filter((r): r is FlowOp[] => r !== undefined);
        try {
          await this.table.apply(opsList.flat());
          for (const j of live) j.resolve();
        } catch (e) {
          if (live.length === 1) {
            live[0]!.reject(e);
            continue;
          }
          // Find the culprit: apply each change on its own, in order.
          for (let i = 0; i < live.length; i++) {
            await this.table.apply(opsList[i]!).then(live[i]!.resolve, live[i]!.reject);
          }
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Install flows of one object (adds replace identical flows). */
  install(flows: Flow[]): Promise<void> {
    return this.enqueueOps(() => flows.map((flow) => ({ op: 'add' as const, flow })));
  }

  /** Replace one object's flows atomically: delete its old flows, add the new ones. */
  replaceObject(kind: (typeof CookieKind)[keyof typeof CookieKind], id: number, flows: Flow[]): Promise<void> {
    const sel = objectSelector(kind, id);
    return this.enqueueOps(() => [{ op: 'delete', cookie: sel.cookie, mask: sel.mask }, ...flows.map((flow) => ({ op: 'add' as const, flow }))]);
  }

  removeObject(kind: (typeof CookieKind)[keyof typeof CookieKind], id: number): Promise<void> {
    const sel = objectSelector(kind, id);
    return this.enqueueOps(() => [{ op: 'delete', cookie: sel.cookie, mask: sel.mask }]);
  }

  /** Apply a mixed set of operations in one bundle (cookies of added flows get the current round). */
  applyOps(ops: FlowOp[]): Promise<void> {
    return this.enqueueOps(() => ops);
  }

  /**
   * Full resync under a new round: add every desired flow with the new round, then delete every
   * Loom flow of any other round, all in one bundle.
   */
  resync(desired: FlowSource): Promise<number> {
    return this.exclusive(async () => {
      const installed = await this.table.dump();
      // The round in use is read back from OVS (the pipeline's own flows), so nothing else has to
      // remember it across restarts.
      const current = installed.map((f) => decodeCookie(f.cookie)).find((d) => d.loom && d.kind === CookieKind.Pipeline)?.round ?? this.round;
      const next = (current + 1) & 0xff;
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
