import assert from 'node:assert/strict';
import { Table, type Flow } from '../../src/pipeline/flow.js';
import { CookieKind, makeCookie, objectSelector, roundSelector } from '../../src/pipeline/cookie.js';
import { renderActions, renderMatch, type InstalledFlow } from '../../src/ovs/flow-syntax.js';
import { OpenFlowClient } from '../../src/ovs/ofctl.js';
import { OvsAppctl } from '../../src/ovs/appctl.js';
import { OvsdbClient } from '../../src/ovs/ovsdb.js';
import { cleanupLeftovers, createNetns, deleteNetns, requireRoot } from '../support/netns.js';
import { OVS_TEST_PREFIX, startOvsInstance, type OvsInstance } from '../support/ovs-instance.js';
import { syntaxFlows } from '../support/representative-flows.js';

const pod = (round: number, id: number) => makeCookie(round, CookieKind.Pod, id);
const MAC = 'aa:bb:cc:dd:ee:01';

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
