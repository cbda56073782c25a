// The native OpenFlow 1.5 client against a real ovs-vswitchd (OVS 3.1, userspace datapath, in a
// loomt-ovstest-* namespace): every change made through it must leave exactly the flow table the
// ovs-ofctl path leaves. Compared on raw `dump-flows --no-stats` text (cookie, table, priority,
// flags, match, actions), sorted. Root only.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import type { Flow } from '../../src/pipeline/flow.js';
import { CookieKind, objectSelector, roundSelector } from '../../src/pipeline/cookie.js';
import { podFlows } from '../../src/pipeline/pipeline.js';
import { OpenFlowClient, type FlowOp } from '../../src/ovs/ofctl.js';
import { NativeOpenFlowClient, OpenFlowBundleError } from '../../src/ovs/openflow/client.js';
import { OvsdbClient } from '../../src/ovs/ovsdb.js';
import { cleanupLeftovers, createNetns, deleteNetns, requireRoot } from '../support/netns.js';
import { OVS_TEST_PREFIX, startOvsInstance, type OvsInstance } from '../support/ovs-instance.js';
import { NODE_NET, builderFlows, policyFlows, representativeFlows } from '../support/representative-flows.js';

const add = (flow: Flow): FlowOp => ({ op: 'add', flow });

describe('native OpenFlow client against a real ovs-vswitchd', function () {
  this.timeout(180000);
  const ns = `${OVS_TEST_PREFIX}-ofn-${process.pid}`;
  let ovs: OvsInstance | null = null;
  let db: OvsdbClient | null = null;
  let ofctl: OpenFlowClient;
  let native: NativeOpenFlowClient;
  let target = '';

  /** Raw flow table: `dump-flows --no-stats` lines, sorted (stats would differ between runs). */
  async function dump(): Promise<string[]> {
    const r = await execa('ovs-ofctl', ['-O', 'OpenFlow15', 'dump-flows', '--no-stats', target], { timeout: 20000 });
    return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('OFPST_FLOW')).sort();
  }
  async function clear(): Promise<void> {
    await execa('ovs-ofctl', ['-O', 'OpenFlow15', 'del-flows', target], { timeout: 20000 });
    assert.deepEqual(await dump(), []);
  }
  /** Starts from `base` (installed with ovs-ofctl), applies `ops` with each client, returns both resulting tables. */
  async function bothWays(base: Flow[], ops: FlowOp[]): Promise<{ before: string[]; viaOfctl: string[]; viaNative: string[] }> {
    await clear();
    await ofctl.applyBundle(base.map(add));
    const before = await dump();
    await ofctl.applyBundle(ops);
    const viaOfctl = await dump();
    await clear();
    await ofctl.applyBundle(base.map(add));
    assert.deepEqual(await dump(), before);
    await native.applyBundle(ops);
    const viaNative = await dump();
    return { before, viaOfctl, viaNative };
  }

  before(async function () {
    requireRoot(this);
    await cleanupLeftovers();
    await createNetns(ns);
    ovs = await startOvsInstance(ns, { dirPrefix: `${OVS_TEST_PREFIX}-ofn-` });
    db = await OvsdbClient.connect(ovs.dbSock);
    await db.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure' });
    await db.ensureInternalPort('br-int', 'loom-gw0', { ofportRequest: 2 });
    target = ovs.mgmt('br-int');
    ofctl = new OpenFlowClient({ bridge: 'br-int', rundir: ovs.rundir });
    native = new NativeOpenFlowClient({ bridge: 'br-int', rundir: ovs.rundir });
    assert.equal(native.target, target);
  });
  after(async () => {
    native?.close();
    db?.close();
    await ovs?.stop();
    await deleteNetns(ns);
  });

  it('installs the representative set (syntax, pipeline, pods, tunnel, policies) exactly as ovs-ofctl does', async () => {
    const flows = representativeFlows(1);
    assert.ok(flows.length > 100, `${flows.length} flows`);
    assert.ok(flows.some((f) => f.actions.some((a) => a.type === 'conjunction')), 'policy flows with conjunctions');
    await clear();
    await ofctl.applyBundle(flows.map(add));
    const viaOfctl = await dump();
    await clear();
    await native.applyBundle(flows.map(add));
    const viaNative = await dump();
    assert.equal(viaNative.length, flows.length);
    assert.deepEqual(viaNative, viaOfctl);
    assert.equal(native.stats.fallbacks, 0);
  });

  it('deletes by cookie/mask in all tables and in one table exactly as ovs-ofctl does', async () => {
    const base = representativeFlows(1);
    for (const ops of [
      [{ op: 'delete', ...objectSelector(CookieKind.Pod, 3) }],
      [{ op: 'delete', ...objectSelector(CookieKind.Pipeline, 0), table: 50 }],
      [{ op: 'delete', cookie: 0x4c4d_0104_0000_0000n, mask: 0xffff_ffff_0000_0000n, table: 60 }], // policy rules, ingress table only
      [{ op: 'delete', ...roundSelector(1) }],
    ] as FlowOp[][]) {
      const { before, viaOfctl, viaNative } = await bothWays(base, ops);
      assert.ok(viaOfctl.length < before.length, `${JSON.stringify(ops, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))} deletes something`);
      assert.deepEqual(viaNative, viaOfctl);
    }
  });

  it('deleteStrict (Match and dumped match string) and modify exactly as ovs-ofctl does', async () => {
    const base = [...builderFlows(1), ...policyFlows(1)];
    const installed = await (async () => {
      await clear();
      await ofctl.applyBundle(base.map(add));
      return ofctl.dumpFlows();
    })();
    const victims = base.filter((_f, i) => i % 7 === 0);
    const dumpedVictims = installed.filter((_f, i) => i % 5 === 1);
    const modified = base.filter((f, i) => i % 6 === 2 && f.actions.every((a) => a.type !== 'conjunction')).map((f) => ({ ...f, cookie: 0x99n, actions: [{ type: 'output' as const, port: 2 }] }));
    const ops: FlowOp[] = [
      ...victims.map((f): FlowOp => ({ op: 'deleteStrict', table: f.table, priority: f.priority, match: f.match })),
      ...dumpedVictims.map((f): FlowOp => ({ op: 'deleteStrict', table: f.table, priority: f.priority, match: f.match })),
      ...modified.map((flow): FlowOp => ({ op: 'modify', flow })),
    ];
    const { before, viaOfctl, viaNative } = await bothWays(base, ops);
    assert.ok(viaOfctl.length < before.length);
    assert.ok(viaOfctl.some((l) => l.includes('actions=output:2')), 'modify changed actions');
    assert.ok(!viaOfctl.some((l) => l.startsWith('cookie=0x99,')), 'modify kept the cookies');
    assert.deepEqual(viaNative, viaOfctl);
    assert.equal(native.stats.fallbacks, 0, 'dumped match strings were sent natively');
  });

  it('rejects a bundle with one op OVS refuses as a whole, names the op, applies nothing', async () => {
    await clear();
    const base = builderFlows(2);
    await native.applyBundle(base.map(add));
    const before = await dump();
    const good: Flow = { table: 0, priority: 5, cookie: 0x4c4d_0302_0000_0009n, match: { inPort: 9 }, actions: [{ type: 'drop' }] };
    // Valid syntax for the renderer; ovs-vswitchd refuses it when decoding: ct's exec() may only write ct_mark/ct_label.
    const bad: Flow = {
      table: 70, priority: 250, cookie: 0x4c4d_0302_0000_0009n, match: { protocol: 'ip' },
      actions: [{ type: 'ct', zone: 1, commit: true, execMoves: [{ src: 'NXM_NX_REG2[]', dst: 'NXM_NX_REG3[]' }] }],
    };
    const ops: FlowOp[] = [{ op: 'delete', ...roundSelector(2) }, add(good), add(bad), add({ ...good, priority: 6 })];
    await assert.rejects(native.applyBundle(ops), (e: unknown) => {
      assert.ok(e instanceof OpenFlowBundleError, String(e));
      assert.equal(e.opIndex, 2);
      assert.match(e.message, /rejected, nothing was applied: ovs-vswitchd refused op 3 of 4 \(flow add table=70,priority=250,.*exec\(move:NXM_NX_REG2\[\]->NXM_NX_REG3\[\]\)\)\) when adding it to the bundle with OFPBAC_/);
      console.log(`      OVS said: ${e.error?.name}`);
      return true;
    });
    assert.deepEqual(await dump(), before, 'the delete and the good adds of the refused bundle were not applied');
    await assert.rejects(ofctl.applyBundle(ops), /ovs-ofctl bundle .* failed/, 'the ovs-ofctl path refuses the same bundle');
    assert.deepEqual(await dump(), before);
    // The connection is still good.
    await native.applyBundle([add(good)]);
    assert.equal((await dump()).length, before.length + 1);
  });

  it('rejects a bundle that fails at commit (table full) as a whole and names the op', async () => {
    await clear();
    // Table 200 holds one flow at most and refuses more (Flow_Table overflow_policy=refuse).
    await execa('ovs-vsctl', [`--db=${ovs!.dbSock}`, '--', '--id=@ft', 'create', 'Flow_Table', 'flow_limit=1', 'overflow_policy=refuse', '--', 'set', 'Bridge', 'br-int', 'flow_tables:200=@ft'], { timeout: 20000 });
    try {
      const f = (i: number): Flow => ({ table: 200, priority: 100 + i, cookie: 2n, match: { inPort: 10 + i }, actions: [{ type: 'output', port: 2 }] });
      await native.applyBundle([add({ table: 10, priority: 1, cookie: 1n, match: {}, actions: [] }), add(f(0))]);
      const before = await dump();
      assert.equal(before.length, 2);
      // Decoded fine when added; refused only when the commit tries to insert the second flow of table 200.
      await assert.rejects(native.applyBundle([add({ table: 10, priority: 2, cookie: 3n, match: {}, actions: [] }), { op: 'delete', cookie: 1n, mask: 0xffn }, add(f(1))]), (e: unknown) => {
        assert.ok(e instanceof OpenFlowBundleError, String(e));
        assert.equal(e.opIndex, 2);
        assert.match(e.message, /nothing was applied: ovs-vswitchd refused op 3 of 3 \(flow add table=200,priority=101,.*\) when the bundle was committed with OFPFMFC_TABLE_FULL/);
        return true;
      });
      assert.deepEqual(await dump(), before, 'neither the add to table 10 nor the delete was applied');
    } finally {
      await execa('ovs-vsctl', [`--db=${ovs!.dbSock}`, 'clear', 'Bridge', 'br-int', 'flow_tables'], { timeout: 20000 });
    }
  });

  it('keeps working across an ovs-vswitchd restart (reconnects on the next call)', async () => {
    await clear();
    await native.applyBundle(builderFlows(3).map(add));
    const connects = native.stats.connects;
    await ovs!.restartVswitchd();
    assert.deepEqual(await dump(), [], 'a restart loses the flows');
    await native.applyBundle(builderFlows(4).map(add));
    assert.equal((await dump()).length, builderFlows(4).length);
    assert.equal(native.stats.connects, connects + 1, 'one new connection');
  });

  it('reuses one connection for many sequential bundles; 100 single-pod bundles, native vs ovs-ofctl', async () => {
    const pods = Array.from({ length: 100 }, (_, i) => ({ key: `bench${i}/eth0`, ofport: 100 + i, mac: `0a:58:0a:f4:02:${i.toString(16).padStart(2, '0')}`, ip: `10.244.1.${100 + i}` }));
    const time = async (apply: (ops: FlowOp[]) => Promise<void>, round: number): Promise<number[]> => {
      await clear();
      const ms: number[] = [];
      for (const p of pods) {
        const t0 = process.hrtime.bigint();
        await apply(podFlows(NODE_NET, p, round).map(add));
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      assert.equal((await dump()).length, pods.length * podFlows(NODE_NET, pods[0]!, round).length);
      return ms;
    };
    const connects = native.stats.connects;
    const bundles = native.stats.bundles;
    const viaNative = await time((ops) => native.applyBundle(ops), 5);
    const nativeTable = await dump();
    assert.equal(native.stats.connects, connects, 'no new connection for 100 bundles');
    assert.equal(native.stats.bundles, bundles + 100);
    const viaOfctl = await time((ops) => ofctl.applyBundle(ops), 5);
    assert.deepEqual(await dump(), nativeTable);
    const stat = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return `median ${s[Math.floor(s.length / 2)]!.toFixed(2)} ms, p90 ${s[Math.floor(s.length * 0.9)]!.toFixed(2)} ms, total ${xs.reduce((a, b) => a + b, 0).toFixed(0)} ms`;
    };
    console.log(`      100 single-pod bundles (6 flows each): native ${stat(viaNative)}; ovs-ofctl ${stat(viaOfctl)}`);
  });
});
