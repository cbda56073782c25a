// NativeOpenFlowClient against the fake switch (test/support/fake-ofswitch.ts): the bundle protocol,
// error naming, discard, reconnect, retry before commit, timeouts, negotiation, fallback. No root.
import assert from 'node:assert/strict';
import type { Flow } from '../../src/pipeline/flow.js';
import { OpenFlowClient, renderBundle, type FlowOp } from '../../src/ovs/ofctl.js';
import { NativeOpenFlowClient, OpenFlowBundleError } from '../../src/ovs/openflow/client.js';
import { OFPBCT, OFPT, decodeBundleControl, decodeHeader, encodeFlowMod, type NativeFlowOp } from '../../src/ovs/openflow/messages.js';
import { FakeOfSwitch } from '../support/fake-ofswitch.js';
import { syntaxFlows } from '../support/representative-flows.js';

const flow = (i: number, extra: Partial<Flow> = {}): Flow => ({ table: 10, priority: 100 + i, cookie: BigInt(i + 1), match: { inPort: i + 1 }, actions: [{ type: 'output', port: 1 }], ...extra });
const add = (f: Flow): FlowOp => ({ op: 'add', flow: f });
const types = (sw: FakeOfSwitch, conn: number) => sw.received.filter((r) => r.conn === conn).map((r) => r.msg.readUInt8(1));

/** An OpenFlowClient that records instead of running ovs-ofctl. */
class RecordingFallback extends OpenFlowClient {
  readonly calls: FlowOp[][] = [];
  override async applyBundle(ops: FlowOp[]): Promise<void> {
    this.calls.push(ops);
  }
}

describe('NativeOpenFlowClient (against a fake switch)', function () {
  this.timeout(20000);
  let sw: FakeOfSwitch;
  let client: NativeOpenFlowClient;

  beforeEach(async () => {
    sw = await FakeOfSwitch.start();
    client = new NativeOpenFlowClient({ bridge: 'br-int', target: sw.target, timeoutMs: 2000, connectTimeoutMs: 2000 });
  });
  afterEach(async () => {
    client.close();
    await sw.close();
  });

  it('sends HELLO, OPEN, one BUNDLE_ADD per op, BARRIER, then COMMIT, on one connection', async () => {
    const ops = syntaxFlows(1).map(add);
    await client.applyBundle(ops);
    assert.equal(sw.connections, 1);
    const t = types(sw, 1);
    assert.deepEqual(t, [OFPT.HELLO, OFPT.BUNDLE_CONTROL, ...ops.map(() => OFPT.BUNDLE_ADD_MESSAGE), OFPT.BARRIER_REQUEST, OFPT.BUNDLE_CONTROL]);
    const controls = sw.messages(OFPT.BUNDLE_CONTROL).map(decodeBundleControl);
    assert.deepEqual(controls.map((c) => [c.type, c.flags]), [[OFPBCT.OPEN_REQUEST, 3], [OFPBCT.COMMIT_REQUEST, 3]]);
    assert.equal(controls[0]!.bundleId, controls[1]!.bundleId);
    // What was committed is exactly the encoder's output, each FLOW_MOD under its own xid.
    assert.equal(sw.committed.length, 1);
    const committed = sw.committed[0]!;
    assert.equal(new Set(committed.map((m) => decodeHeader(m).xid)).size, ops.length);
    committed.forEach((m, i) => assert.ok(m.equals(encodeFlowMod(decodeHeader(m).xid, ops[i] as NativeFlowOp)), `op ${i}`));
    assert.deepEqual(client.stats, { bundles: 1, connects: 1, retries: 0, fallbacks: 0 });
  });

  it('does nothing for an empty op list (not even connect)', async () => {
    await client.applyBundle([]);
    assert.equal(sw.connections, 0);
  });

  it('reuses one connection for many bundles, and serialises concurrent calls', async () => {
    for (let i = 0; i < 50; i++) await client.applyBundle([add(flow(i))]);
    await Promise.all([0, 1, 2, 3, 4].map((i) => client.applyBundle([add(flow(100 + i)), add(flow(200 + i))])));
    assert.equal(sw.connections, 1);
    assert.equal(client.stats.connects, 1);
    assert.equal(sw.committed.length, 55);
    // Serialised: bundles never interleave on the wire (each OPEN is followed by its own adds and commit).
    const t = types(sw, 1).filter((x) => x !== OFPT.HELLO);
    for (let i = 0; i < t.length; ) {
      assert.equal(t[i], OFPT.BUNDLE_CONTROL);
      let j = i + 1;
      while (t[j] === OFPT.BUNDLE_ADD_MESSAGE) j++;
      assert.deepEqual([t[j], t[j + 1]], [OFPT.BARRIER_REQUEST, OFPT.BUNDLE_CONTROL]);
      i = j + 2;
    }
    assert.deepEqual(sw.committed.slice(50).map((b) => b.length), [2, 2, 2, 2, 2]);
  });

  it('names the op the switch refused, discards the bundle and commits nothing', async () => {
    const ops = [add(flow(0)), add(flow(1)), add(flow(2, { actions: [{ type: 'output', port: 7 }] })), add(flow(3))];
    sw.onAdd = (_inner, index) => (index === 2 ? { type: 2, code: 4 } : undefined); // OFPBAC_BAD_OUT_PORT
    await assert.rejects(client.applyBundle(ops), (e: unknown) => {
      assert.ok(e instanceof OpenFlowBundleError);
      assert.equal(e.opIndex, 2);
      assert.equal(e.error?.name, 'OFPBAC_BAD_OUT_PORT');
      assert.match(e.message, /nothing was applied/);
      assert.match(e.message, /op 3 of 4 \(flow add table=10,priority=102,cookie=0x3,in_port=3 actions=output:7\)/);
      assert.match(e.message, /OFPBAC_BAD_OUT_PORT \(an output port is out of range\)/);
      return true;
    });
    assert.equal(sw.committed.length, 0);
    assert.equal(sw.discarded, 1);
    assert.deepEqual(sw.messages(OFPT.BUNDLE_CONTROL).map((m) => decodeBundleControl(m).type), [OFPBCT.OPEN_REQUEST, OFPBCT.DISCARD_REQUEST]);
    // The connection stays usable.
    sw.onAdd = null;
    await client.applyBundle([add(flow(9))]);
    assert.equal(sw.committed.length, 1);
    assert.equal(sw.connections, 1);
  });

  it('names the op of a commit-time failure (error with the FLOW_MOD xid, then OFPBFC_MSG_FAILED)', async () => {
    sw.onCommit = () => ({ index: 1, type: 5, code: 1 }); // OFPFMFC_TABLE_FULL
    await assert.rejects(client.applyBundle([add(flow(0)), add(flow(1)), add(flow(2))]), (e: unknown) => {
      assert.ok(e instanceof OpenFlowBundleError);
      assert.equal(e.opIndex, 1);
      assert.match(e.message, /op 2 of 3 .* when the bundle was committed with OFPFMFC_TABLE_FULL/);
      return true;
    });
    assert.equal(sw.committed.length, 0);
  });

  it('answers the switch\'s echo requests', async () => {
    await client.applyBundle([add(flow(0))]);
    const reply = await sw.echo(Buffer.from('keepalive'));
    assert.equal(reply.readUInt8(1), OFPT.ECHO_REPLY);
    assert.equal(reply.subarray(8).toString(), 'keepalive');
  });

  it('reconnects on the next call after the switch closed the connection (vswitchd restart)', async () => {
    await client.applyBundle([add(flow(0))]);
    sw.dropAll();
    await new Promise((r) => setTimeout(r, 50));
    await client.applyBundle([add(flow(1))]);
    assert.equal(sw.connections, 2);
    assert.equal(sw.committed.length, 2);
    assert.equal(client.stats.connects, 2);
  });

  it('retries once on a new connection when the connection dies before COMMIT (nothing was applied)', async () => {
    await client.applyBundle([add(flow(0))]);
    let dropped = false;
    sw.dropOn = (msg) => {
      if (dropped || msg.readUInt8(1) !== OFPT.BUNDLE_ADD_MESSAGE) return false;
      dropped = true;
      return true;
    };
    await client.applyBundle([add(flow(1)), add(flow(2))]);
    assert.equal(client.stats.retries, 1);
    assert.equal(sw.connections, 2);
    assert.deepEqual(sw.committed.map((b) => b.length), [1, 2]);
  });

  it('does not retry when the connection dies after COMMIT was sent, and says the outcome is unknown', async () => {
    await client.applyBundle([add(flow(0))]);
    sw.dropOn = (msg) => msg.readUInt8(1) === OFPT.BUNDLE_CONTROL && decodeBundleControl(msg).type === OFPBCT.COMMIT_REQUEST;
    await assert.rejects(client.applyBundle([add(flow(1))]), /after COMMIT was sent; whether the bundle was applied is unknown/);
    assert.equal(client.stats.retries, 0);
    sw.dropOn = null;
    await client.applyBundle([add(flow(2))]);
    assert.equal(sw.connections, 2);
  });

  it('times out with a clear error when the switch does not answer, then recovers', async () => {
    await client.applyBundle([add(flow(0))]);
    sw.silent = true;
    const started = Date.now();
    await assert.rejects(client.applyBundle([add(flow(1))]), /not applied: no reply to BUNDLE_CONTROL OPEN .* within \d+ ms .*discards the uncommitted bundle/);
    assert.ok(Date.now() - started < 5000);
    sw.silent = false;
    await client.applyBundle([add(flow(2))]);
    assert.equal(sw.connections, 2);
    assert.equal(sw.committed.length, 2);
  });

  it('refuses a switch that does not offer OpenFlow 1.5', async () => {
    sw.versions = [1, 4];
    await assert.rejects(client.applyBundle([add(flow(0))]), /OpenFlow 1\.5 negotiation .* offers OpenFlow versions 0x1, 0x4 but not 1\.5.*OpenFlow15/);
  });

  it('reports a missing socket with what to check', async () => {
    const gone = new NativeOpenFlowClient({ bridge: 'br-int', target: `unix:${sw.dir}/nope.mgmt` });
    await assert.rejects(gone.applyBundle([add(flow(0))]), /not applied: cannot connect to unix:.*nope\.mgmt \(socket error ENOENT\); check that ovs-vswitchd runs and bridge br-int exists/);
    gone.close();
  });

  it('throws the text path\'s validation errors before connecting', async () => {
    const bad = add(flow(0, { match: { protocol: 'arp', nwSrc: '10.0.0.1' } }));
    let textError = '';
    try {
      renderBundle([bad]);
    } catch (e) {
      textError = (e as Error).message;
    }
    assert.ok(textError !== '');
    await assert.rejects(client.applyBundle([add(flow(1)), bad]), (e: Error) => e.message === textError);
    assert.equal(sw.connections, 0);
  });

  it('sends deleteStrict with a canonical dumped match natively, and a bundle with anything else through ovs-ofctl', async () => {
    const fallback = new RecordingFallback({ bridge: 'br-int', target: sw.target });
    const c = new NativeOpenFlowClient({ bridge: 'br-int', target: sw.target, fallback });
    try {
      await c.applyBundle([{ op: 'deleteStrict', table: 10, priority: 200, match: 'ct_state=+new+trk,ip,reg0=0x1/0xf,nw_src=10.0.0.0/8' }]);
      assert.equal(sw.committed.length, 1);
      assert.equal(decodeHeader(sw.committed[0]![0]!).type, OFPT.FLOW_MOD);
      const odd: FlowOp[] = [add(flow(0)), { op: 'deleteStrict', table: 0, priority: 5, match: 'in_port=LOCAL' }];
      await c.applyBundle(odd);
      const unknownField: FlowOp[] = [add(flow(1)), add(flow(2, { actions: [{ type: 'move', src: 'NXM_NX_XXREG1[0..31]', dst: 'NXM_NX_REG1[]' }] }))];
      await c.applyBundle(unknownField);
      assert.deepEqual(fallback.calls, [odd, unknownField]);
      assert.equal(c.stats.fallbacks, 2);
      assert.equal(sw.committed.length, 1, 'nothing of the fallback bundles went through the native path');
    } finally {
      c.close();
    }
  });

  it('close() during a bundle fails it without retrying or reconnecting', async () => {
    await client.applyBundle([add(flow(0))]);
    sw.silent = true;
    const pending = client.applyBundle([add(flow(1))]);
    await new Promise((r) => setTimeout(r, 50));
    client.close();
    await assert.rejects(pending, /client was closed/);
    assert.equal(sw.connections, 1);
    assert.equal(client.stats.retries, 0);
  });

  it('validates its target and is unusable after close()', async () => {
    assert.throws(() => new NativeOpenFlowClient({ bridge: 'br-int', target: 'tcp:127.0.0.1:6653' }), /unix:\/path\/BRIDGE\.mgmt/);
    assert.equal(new NativeOpenFlowClient({ bridge: 'br-int', rundir: '/run/ovs/' }).target, 'unix:/run/ovs/br-int.mgmt');
    await client.applyBundle([add(flow(0))]);
    client.close();
    await assert.rejects(client.applyBundle([add(flow(1))]), /is closed/);
  });
});
