import assert from 'node:assert/strict';
import { CT_ZONE, Table, type Flow } from '../../src/pipeline/flow.js';
import { CookieKind, makeCookie, objectSelector, roundSelector } from '../../src/pipeline/cookie.js';
import { renderActions, renderMatch, type InstalledFlow } from '../../src/ovs/flow-syntax.js';
import { OpenFlowClient } from '../../src/ovs/ofctl.js';
import { OvsAppctl } from '../../src/ovs/appctl.js';
import { OvsdbClient } from '../../src/ovs/ovsdb.js';
import { cleanupLeftovers, createNetns, deleteNetns, requireRoot } from '../support/netns.js';
import { OVS_TEST_PREFIX, startOvsInstance, type OvsInstance } from '../support/ovs-instance.js';

const pod = (round: number, id: number) => makeCookie(round, CookieKind.Pod, id);
const MAC = 'aa:bb:cc:dd:ee:01';

/** One flow per match field and action type, so the round trip covers the whole syntax. */
function syntaxFlows(round: number): Flow[] {
  return [
    { table: Table.Classifier, priority: 200, cookie: pod(round, 1), match: { protocol: 'arp' }, actions: [{ type: 'goto', table: Table.ArpResponder }] },
    {
      table: Table.SpoofGuard, priority: 200, cookie: pod(round, 1),
      match: { protocol: 'ip', inPort: 5, dlSrc: 'AA:BB:CC:DD:EE:01', nwSrc: '10.244.1.5/32', regs: [{ reg: 0, value: 1, bits: [0, 3] }] },
      actions: [{ type: 'loadReg', reg: 0, value: 1, bits: [0, 3] }, { type: 'goto', table: Table.Conntrack }],
    },
    {
      table: Table.ArpResponder, priority: 200, cookie: pod(round, 1),
      match: { protocol: 'arp', arpOp: 1, arpTpa: '10.244.1.1', arpSpa: '10.244.1.0/24', arpSha: MAC },
      actions: [{ type: 'arpReply', mac: 'aa:bb:cc:00:00:01', ip: '10.244.1.1' }],
    },
    { table: Table.Conntrack, priority: 200, cookie: pod(round, 2), match: { protocol: 'ip' }, actions: [{ type: 'ct', zone: CT_ZONE, table: Table.ConntrackState }] },
    { table: Table.ConntrackState, priority: 210, cookie: pod(round, 2), match: { ctState: '+trk+inv', protocol: 'ip' }, actions: [{ type: 'drop' }] },
    { table: Table.EgressRule, priority: 200, cookie: pod(round, 3), match: { protocol: 'tcp', nwSrc: '10.0.0.0/8', tpDst: { port: 0x50, mask: 0xfff0 } }, actions: [{ type: 'conjunction', id: 7, clause: 1, nClauses: 3 }] },
    { table: Table.EgressRule, priority: 200, cookie: pod(round, 3), match: { protocol: 'udp', tpSrc: { port: 53 } }, actions: [{ type: 'conjunction', id: 7, clause: 2, nClauses: 3 }] },
    { table: Table.EgressRule, priority: 200, cookie: pod(round, 3), match: { conjId: 7, protocol: 'ip' }, actions: [{ type: 'loadReg', reg: 2, value: 7 }, { type: 'goto', table: Table.EgressDefault }] },
    {
      table: Table.L3Forwarding, priority: 200, cookie: pod(round, 4), match: { protocol: 'ip', nwDst: '10.244.2.0/24' },
      actions: [{ type: 'setField', field: 'eth_dst', value: 'AA:BB:CC:00:00:02' }, { type: 'setField', field: 'tun_dst', value: '192.168.1.2' }, { type: 'setField', field: 'tun_id', value: '0' }, { type: 'decTtl' }, { type: 'goto', table: Table.L2Forwarding }],
    },
    { table: Table.L2Forwarding, priority: 200, cookie: pod(round, 4), match: { dlDst: MAC }, actions: [{ type: 'loadReg', reg: 1, value: 5 }, { type: 'goto', table: Table.IngressRule }] },
    { table: Table.IngressRule, priority: 200, cookie: pod(round, 5), match: { ctLabel: { value: 1n, mask: 0xffffffffn }, protocol: 'ip', tunId: 5, tunSrc: '192.168.1.3' }, actions: [{ type: 'output', port: 5 }] },
    { table: Table.IngressDefault, priority: 0, cookie: pod(round, 5), match: {}, actions: [] },
    {
      table: Table.ConntrackCommit, priority: 200, cookie: pod(round, 6), match: { ctState: '+new+trk', protocol: 'ip' },
      actions: [{ type: 'ct', zone: CT_ZONE, commit: true, table: Table.Output, execMoves: [{ src: 'NXM_NX_REG2[]', dst: 'NXM_NX_CT_LABEL[0..31]' }, { src: 'NXM_NX_REG3[]', dst: 'NXM_NX_CT_LABEL[32..63]' }] }],
    },
    { table: Table.Output, priority: 200, cookie: pod(round, 6), match: { regs: [{ reg: 1, value: 5 }] }, actions: [{ type: 'outputReg', reg: 1 }] },
    { table: Table.Output, priority: 190, cookie: pod(round, 6), match: { inPort: 5 }, actions: [{ type: 'inPort' }] },
    // zero values: OVS prints them as "0", not "0x0"
    {
      table: Table.Output, priority: 180, cookie: pod(round, 6), match: { regs: [{ reg: 0, value: 0, bits: [0, 3] }, { reg: 3, value: 0 }], ctLabel: { value: 0n, mask: 0xffn }, tunId: 0 },
      actions: [{ type: 'loadReg', reg: 2, value: 0 }, { type: 'loadReg', reg: 0, value: 0, bits: [4, 7] }, { type: 'output', port: 2 }],
    },
  ];
}

/** What OVS should print for a flow: the renderer's canonical strings. */
function expected(f: Flow): Omit<InstalledFlow, 'nPackets' | 'nBytes'> {
  return { cookie: f.cookie, table: f.table, priority: f.priority, match: renderMatch(f.match), actions: renderActions(f.actions, f.table) };
}
const strip = (flows: InstalledFlow[]) => flows.map(({ nPackets: _p, nBytes: _b, ...rest }) => rest);
const sortFlows = <T extends { table: number; priority: number; match: string }>(flows: T[]) =>
  [...flows].sort((a, b) => a.table - b.table || b.priority - a.priority || (a.match < b.match ? -1 : a.match > b.match ? 1 : 0));

describe('OpenFlow adapter against a real ovs-vswitchd', function () {
  const ns = `${OVS_TEST_PREFIX}-of-${process.pid}`;
  let ovs: OvsInstance | null = null;
  let db: OvsdbClient | null = null;
  let of: OpenFlowClient;

  before(async function () {
    requireRoot(this);
    await cleanupLeftovers();
    await createNetns(ns);
    ovs = await startOvsInstance(ns, { dirPrefix: `${OVS_TEST_PREFIX}-of-` });
    db = await OvsdbClient.connect(ovs.dbSock);
    await db.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure' });
    await db.ensureInternalPort('br-int', 'loom-gw0', { ofportRequest: 2 });
    of = new OpenFlowClient({ bridge: 'br-int', rundir: ovs.rundir });
  });
  after(async () => {
    db?.close();
    await ovs?.stop();
    await deleteNetns(ns);
  });

  it('installs every kind of flow in one bundle and dumps back exactly what was rendered', async () => {
    const flows = syntaxFlows(1);
    await of.applyBundle(flows.map((flow) => ({ op: 'add' as const, flow })));
    const dumped = await of.dumpFlows();
    assert.deepEqual(sortFlows(strip(dumped)), sortFlows(flows.map(expected)));
    assert.ok(dumped.every((f) => f.nPackets === 0 && f.nBytes === 0));
  });

  it('replaces a flow with the same table, priority and match (new cookie and actions)', async () => {
    const replaced: Flow = { table: Table.Output, priority: 190, cookie: pod(2, 6), match: { inPort: 5 }, actions: [{ type: 'output', port: 2 }] };
    await of.applyBundle([{ op: 'add', flow: replaced }]);
    const inTable = await of.dumpFlows({ table: Table.Output });
    const untouched = syntaxFlows(1).filter((f) => f.table === Table.Output && f.priority !== 190);
    assert.deepEqual(sortFlows(strip(inTable)), sortFlows([...untouched, replaced].map(expected)));
  });

  it('deletes by cookie mask (one object, then one round) and filters dumps by cookie', async () => {
    const obj = objectSelector(CookieKind.Pod, 3);
    assert.equal((await of.dumpFlows({ cookie: obj.cookie, mask: obj.mask })).length, 3);
    await of.applyBundle([{ op: 'delete', ...obj }]);
    assert.equal((await of.dumpFlows({ cookie: obj.cookie, mask: obj.mask })).length, 0);
    await of.applyBundle([{ op: 'delete', ...roundSelector(1) }]);
    const left = await of.dumpFlows();
    assert.deepEqual(strip(left).map((f) => f.cookie), [pod(2, 6)]);
  });

  it('applies a bundle atomically: one op rejected by OVS leaves nothing applied', async () => {
    const good: Flow = { table: 0, priority: 5, cookie: pod(3, 9), match: { inPort: 9 }, actions: [{ type: 'drop' }] };
    // Bit widths differ (4 vs 8): valid syntax, refused by OVS.
    const bad: Flow = { table: 0, priority: 6, cookie: pod(3, 9), match: { inPort: 9 }, actions: [{ type: 'move', src: 'NXM_NX_REG2[0..3]', dst: 'NXM_NX_REG1[0..7]' }] };
    await assert.rejects(of.applyBundle([{ op: 'delete', ...roundSelector(2) }, { op: 'add', flow: good }, { op: 'add', flow: bad }]), /ovs-ofctl bundle .* failed .*/);
    assert.deepEqual(strip(await of.dumpFlows()).map((f) => f.cookie), [pod(2, 6)]);
  });

  it('reconciles to a desired set in one bundle, then finds nothing to do', async () => {
    const owned = { cookie: 0x4c4d_0000_0000_0000n, mask: 0xffff_0000_0000_0000n };
    const foreign: Flow = { table: 0, priority: 1, cookie: 0x99n, match: {}, actions: [] };
    const staleOwned: Flow = { table: 0, priority: 2, cookie: pod(3, 8), match: { inPort: 7 }, actions: [] };
    await of.applyBundle([{ op: 'add', flow: foreign }, { op: 'add', flow: staleOwned }]);
    const desired = syntaxFlows(4);
    assert.deepEqual(await of.reconcile(desired, owned), { added: desired.length, deleted: 1, unchanged: 0 });
    assert.deepEqual(await of.reconcile(desired, owned), { added: 0, deleted: 0, unchanged: desired.length });
    const dumped = strip(await of.dumpFlows());
    assert.deepEqual(sortFlows(dumped), sortFlows([...desired, foreign].map(expected)));
  });

  it('loses flows but keeps ports when ovs-vswitchd restarts (the case flow replay must handle)', async () => {
    await ovs!.restartVswitchd();
    assert.deepEqual(await of.dumpFlows(), []);
    assert.equal((await db!.getPort('loom-gw0'))?.ofport, 2);
  });

  it('runs appctl commands against the instance and validates their arguments', async () => {
    const appctl = new OvsAppctl({ target: ovs!.vswitchdCtl });
    assert.match(await appctl.dpifShow(), /br-int/);
    await of.applyBundle(syntaxFlows(5).map((flow) => ({ op: 'add' as const, flow })));
    const trace = await appctl.ofprotoTrace('br-int', 'in_port=5,arp,arp_op=1,arp_tpa=10.244.1.1,arp_spa=10.244.1.5,arp_sha=aa:bb:cc:dd:ee:01');
    assert.match(trace, /set_field:2->arp_op/);
    await assert.rejects(appctl.call('ofproto/trace', ['br-int', '--help']), /invalid argument/);
    await assert.rejects(appctl.tnlNeighSet('br-int', '10.0.0.300', MAC), /neighbour ip/);
  });
});
