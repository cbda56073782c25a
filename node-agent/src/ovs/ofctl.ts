// OpenFlow adapter: applies flow changes to one bridge with `ovs-ofctl bundle` (one process and one
// atomic transaction per batch, flow text on stdin) and reads flows back with `ovs-ofctl dump-flows`.
import { execa } from 'execa';
import type { Flow, Match } from '../pipeline/flow.js';
import {
  OPENFLOW_VERSION,
  flowKey,
  installedFlowKey,
  parseDumpFlows,
  renderActions,
  renderCookieSelector,
  renderFlow,
  renderMatch,
  type InstalledFlow,
} from './flow-syntax.js';
import { checkIfName, checkTable, checkUint, invalid } from './validate.js';

export interface OpenFlowClientOptions {
  bridge: string;
  /** ovs-ofctl target, e.g. `unix:/var/run/openvswitch/br-int.mgmt`; default derived from rundir or the bridge name */
  target?: string;
  /** OVS run directory holding `<bridge>.mgmt` (used when target is absent) */
  rundir?: string;
  /** path of the ovs-ofctl executable (default: ovs-ofctl from PATH) */
  ofctlPath?: string;
  /** per-command timeout (default 20000 ms) */
  timeoutMs?: number;
}

/** One change inside a bundle. */
export type FlowOp =
  /** add, or replace the flow with the same table, priority and match (cookie, actions and counters replaced) */
  | { op: 'add'; flow: Flow }
  /** change only the actions of the flow with the same table, priority and match (keeps cookie and counters) */
  | { op: 'modify'; flow: Flow }
  /** delete exactly the flow with this table, priority and match (a Match value or a dumped match string) */
  | { op: 'deleteStrict'; table: number; priority: number; match: Match | string }
  /** delete every flow whose cookie matches cookie/mask, in one table or all tables */
  | { op: 'delete'; cookie: bigint; mask: bigint; table?: number };

export interface ReconcileResult {
  added: number;
  deleted: number;
  unchanged: number;
}

/** A dumped match string must be one token of OVS match syntax: no whitespace, no newline. */
const DUMPED_MATCH_RE = /^[A-Za-z0-9_=,.:/+\-]*$/;

function renderOp(op: FlowOp): string {
  switch (op.op) {
    case 'add':
      return `flow add ${renderFlow(op.flow)}`;
    case 'modify':
      return `flow modify_strict ${renderFlow(op.flow)}`;
    case 'deleteStrict': {
      checkTable('flow table', op.table);
      checkUint('flow priority', op.priority, 0xffff);
      let match: string;
      if (typeof op.match === 'string') {
        if (!DUMPED_MATCH_RE.test(op.match)) throw invalid('match string', op.match, 'one OVS match token without spaces');
        match = op.match;
      } else {
        match = renderMatch(op.match);
      }
      return `flow delete_strict table=${op.table},priority=${op.priority}${match === '' ? '' : `,${match}`}`;
    }
    case 'delete': {
      const table = op.table === undefined ? '' : `table=${checkTable('flow table', op.table)},`;
      return `flow delete ${table}${renderCookieSelector(op.cookie, op.mask)}`;
    }
    default:
      throw invalid('flow op', (op as { op: unknown }).op, 'add, modify, deleteStrict or delete');
  }
}

/** The text `ovs-ofctl bundle` reads: one line per op, applied in order in one atomic transaction. */
export function renderBundle(ops: FlowOp[]): string {
  return ops.map((op) => `${renderOp(op)}\n`).join('');
}

/**
 * The operations that turn `installed` into `desired`: add what is missing or differs (cookie or
 * actions), delete installed flows that are not desired. With `owned`, only installed flows whose
 * cookie matches owned.cookie/owned.mask are deleted (flows of others are left alone).
 */
export function planReconcile(
  desired: Flow[],
  installed: InstalledFlow[],
  owned?: { cookie: bigint; mask: bigint },
): { ops: FlowOp[]; unchanged: number } {
  const want = new Map<string, Flow>();
  for (const f of desired) {
    const key = flowKey(f);
    if (want.has(key)) throw new Error(`two desired flows share table, priority and match (${key}); one would silently replace the other`);
    want.set(key, f);
  }
  const have = new Map(installed.map((f) => [installedFlowKey(f), f]));
  const ops: FlowOp[] = [];
  let unchanged = 0;
  for (const [key, f] of want) {
    const cur = have.get(key);
    if (cur !== undefined && cur.cookie === f.cookie && cur.actions === renderActions(f.actions, f.table)) unchanged++;
    else ops.push({ op: 'add', flow: f });
  }
  for (const [key, f] of have) {
    if (want.has(key)) continue;
    if (owned !== undefined && (f.cookie & owned.mask) !== owned.cookie) continue;
    ops.push({ op: 'deleteStrict', table: f.table, priority: f.priority, match: f.match });
  }
  return { ops, unchanged };
}

export class OpenFlowClient {
  readonly bridge: string;
  readonly target: string;
  private readonly ofctl: string;
  private readonly timeoutMs: number;

  constructor(opts: OpenFlowClientOptions) {
    this.bridge = checkIfName('bridge name', opts.bridge);
    if (opts.target !== undefined) {
      if (!/^(unix:\/[^\s]+|[A-Za-z0-9][A-Za-z0-9_.-]*)$/.test(opts.target)) throw invalid('ovs-ofctl target', opts.target, 'unix:/path/BRIDGE.mgmt or a bridge name');
      this.target = opts.target;
    } else if (opts.rundir !== undefined) {
      if (!opts.rundir.startsWith('/') || /\s/.test(opts.rundir)) throw invalid('OVS rundir', opts.rundir, 'an absolute path without spaces');
      this.target = `unix:${opts.rundir.replace(/\/$/, '')}/${this.bridge}.mgmt`;
    } else {
      this.target = this.bridge;
    }
    this.ofctl = opts.ofctlPath ?? 'ovs-ofctl';
    this.timeoutMs = opts.timeoutMs ?? 20000;
  }

  private async run(args: string[], input?: string): Promise<string> {
    const r = await execa(this.ofctl, ['-O', OPENFLOW_VERSION, ...args], {
      reject: false,
      timeout: this.timeoutMs,
      ...(input === undefined ? {} : { input }),
    });
    if (r.exitCode !== 0 || r.timedOut) {
      const why = r.timedOut ? `timed out after ${this.timeoutMs} ms` : `exit code ${r.exitCode}`;
      throw new Error(`ovs-ofctl ${args[0]} on ${this.target} failed (${why}): ${r.stderr.trim() || r.message}; check that ovs-vswitchd runs and bridge ${this.bridge} exists`);
    }
    return r.stdout;
  }

  /** Applies all ops in one atomic bundle (all or nothing). No-op for an empty list. */
  async applyBundle(ops: FlowOp[]): Promise<void> {
    if (ops.length === 0) return;
    await this.run(['bundle', this.target, '-'], renderBundle(ops));
  }

  /** Every flow of the bridge (optionally one table and/or a cookie selector), with packet counters. */
  async dumpFlows(filter: { table?: number; cookie?: bigint; mask?: bigint } = {}): Promise<InstalledFlow[]> {
    const parts: string[] = [];
    if (filter.table !== undefined) parts.push(`table=${checkTable('flow table', filter.table)}`);
    if (filter.cookie !== undefined) parts.push(renderCookieSelector(filter.cookie, filter.mask ?? 0xffff_ffff_ffff_ffffn));
    const args = ['dump-flows', this.target];
    if (parts.length > 0) args.push(parts.join(','));
    return parseDumpFlows(await this.run(args));
  }

  /**
   * Makes the bridge's flows equal to `desired` in one bundle (see planReconcile); with `owned`, only
   * flows with a matching cookie are removed.
   */
  async reconcile(desired: Flow[], owned?: { cookie: bigint; mask: bigint }): Promise<ReconcileResult> {
    const installed = await this.dumpFlows();
    const { ops, unchanged } = planReconcile(desired, installed, owned);
    await this.applyBundle(ops);
    const deleted = ops.filter((o) => o.op === 'deleteStrict').length;
    return { added: ops.length - deleted, deleted, unchanged };
  }
}
