import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcConnection, JsonStreamSplitter } from '../../src/ovs/jsonrpc.js';
import { OvsdbClient } from '../../src/ovs/ovsdb.js';
import { cleanupLeftovers, createNetns, deleteNetns, nsExec, requireRoot } from '../support/netns.js';
import { OVS_TEST_PREFIX, startOvsInstance, type OvsInstance } from '../support/ovs-instance.js';

describe('ovs jsonrpc: stream framing', () => {
  it('splits back-to-back JSON texts across arbitrary chunk boundaries, braces inside strings included', () => {
    const texts = ['{"id":1,"result":[{"a":"}{"}],"error":null}', '{"method":"echo","params":["x\\"]"],"id":"echo"}', '[1,[2]]'];
    const whole = texts.join('');
    for (const size of [1, 3, 7, whole.length]) {
      const s = new JsonStreamSplitter();
      const out: string[] = [];
      for (let i = 0; i < whole.length; i += size) out.push(...s.push(whole.slice(i, i + size)));
      assert.deepEqual(out, texts, `chunk size ${size}`);
    }
  });

  it('throws on an unbalanced stream', () => {
    assert.throws(() => new JsonStreamSplitter().push('}'), /unbalanced/);
  });
});

describe('ovs jsonrpc: connection (fake server)', () => {
  let dir = '';
  let server: Server | null = null;
  const sockets: Socket[] = [];
  let conn: JsonRpcConnection | null = null;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), `${OVS_TEST_PREFIX}-rpc-`));
  });
  afterEach(async () => {
    conn?.close();
    conn = null;
    sockets.forEach((s) => s.destroy());
    sockets.length = 0;
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = null;
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A server answering requests in reverse order of arrival (pairs), and sending an echo first. */
  function startServer(path: string, onMessage: (msg: { id: unknown; method?: string; params?: unknown; result?: unknown }, sock: Socket) => void): Promise<void> {
    server = createServer((sock) => {
      sockets.push(sock);
      sock.setEncoding('utf8');
      const splitter = new JsonStreamSplitter();
      sock.on('data', (chunk: string) => splitter.push(chunk).forEach((t) => onMessage(JSON.parse(t), sock)));
    });
    return new Promise((r) => server!.listen(path, () => r()));
  }

  it('matches replies by id (out of order), answers echo, and times out unanswered requests', async () => {
    const path = join(dir, 'a.sock');
    const held: Array<{ id: unknown; params?: unknown }> = [];
    let gotEchoReply: (m: unknown) => void = () => undefined;
    const echoReply = new Promise((r) => (gotEchoReply = r));
    await startServer(path, (msg, sock) => {
      if (msg.method === undefined) {
        gotEchoReply(msg);
        return;
      }
      if (msg.method === 'never') return;
      held.push(msg);
      if (held.length === 2) {
        for (const m of held.reverse()) sock.write(JSON.stringify({ id: m.id, result: m.params, error: null }));
      }
    });
    conn = await JsonRpcConnection.open(path, { requestTimeoutMs: 300 });
    sockets[0]?.write(JSON.stringify({ method: 'echo', params: ['ping'], id: 'echo' }));
    const [a, b] = await Promise.all([conn.request('first', ['A']), conn.request('second', ['B'])]);
    assert.deepEqual([a, b], [['A'], ['B']]);
    assert.deepEqual(await echoReply, { id: 'echo', result: ['ping'], error: null });
    await assert.rejects(conn.request('never', []), /timed out after 300 ms/);
  });

  it('rejects in-flight requests when the connection drops and reconnects by itself', async () => {
    const path = join(dir, 'b.sock');
    await startServer(path, (msg, sock) => {
      if (msg.method === 'drop') sock.destroy();
      else sock.write(JSON.stringify({ id: msg.id, result: 'ok', error: null }));
    });
    conn = await JsonRpcConnection.open(path, { requestTimeoutMs: 3000, reconnectMinMs: 10 });
    await assert.rejects(conn.request('drop', []), /not answered: connection to .* lost/);
    assert.equal(await conn.request('again', []), 'ok');
    assert.equal(conn.isConnected(), true);
  });

  it('fails fast with the socket path when nobody listens', async () => {
    await assert.rejects(JsonRpcConnection.open(join(dir, 'missing.sock')), /cannot connect to OVSDB at .*missing\.sock/);
  });
});

describe('ovsdb client against a real ovsdb-server', function () {
  const ns = `${OVS_TEST_PREFIX}-db-${process.pid}`;
  let ovs: OvsInstance | null = null;
  let db: OvsdbClient;
  const vsctl = (...args: string[]) => execa('ovs-vsctl', [`--db=${ovs!.dbSock}`, ...args]).then((r) => r.stdout.trim());

  before(async function () {
    requireRoot(this);
    await cleanupLeftovers();
    await createNetns(ns);
    ovs = await startOvsInstance(ns, { dirPrefix: `${OVS_TEST_PREFIX}-db-` });
    db = await OvsdbClient.connect(ovs.dbSock);
  });
  after(async () => {
    db?.close();
    await ovs?.stop();
    await deleteNetns(ns);
  });

  it('creates a netdev bridge with fail_mode secure, then adjusts it idempotently', async () => {
    assert.deepEqual(await db.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', externalIds: { 'loom-round': '1' }, otherConfig: { 'disable-in-band': 'true' } }), { created: true });
    assert.deepEqual(await db.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', externalIds: { 'loom-owner': 'agent' } }), { created: false });
    assert.equal(await vsctl('get', 'Bridge', 'br-int', 'datapath_type'), 'netdev');
    assert.equal(await vsctl('get', 'Bridge', 'br-int', 'fail_mode'), 'secure');
    assert.deepEqual(await db.getBridgeExternalIds('br-int'), { 'loom-round': '1', 'loom-owner': 'agent' });
    await db.setBridgeExternalIds('br-int', { 'loom-round': '2', 'loom-owner': null });
    assert.deepEqual(await db.getBridgeExternalIds('br-int'), { 'loom-round': '2' });
    await db.setBridgeOtherConfig('br-int', { 'mac-table-size': '2048' });
    assert.deepEqual(await db.getBridgeOtherConfig('br-int'), { 'disable-in-band': 'true', 'mac-table-size': '2048' });
    assert.equal(await db.bridgeExists('br-int'), true);
    assert.equal(await db.bridgeExists('br-none'), false);
  });

  it('adds the gateway internal port with a requested ofport and reads it back', async () => {
    assert.equal(await db.ensureInternalPort('br-int', 'loom-gw0', { ofportRequest: 2, externalIds: { 'loom-kind': 'gateway' } }), 2);
    assert.equal(await db.ensureInternalPort('br-int', 'loom-gw0', { ofportRequest: 2, externalIds: { 'loom-kind': 'gateway' } }), 2);
    assert.deepEqual(await db.getPort('loom-gw0'), { name: 'loom-gw0', ofport: 2, type: 'internal', externalIds: { 'loom-kind': 'gateway' }, error: null });
  });

  it('adds a veth with external_ids, updates it in place, lists and deletes it', async () => {
    await nsExec(ns, 'ip', ['link', 'add', 'lmv0', 'type', 'veth', 'peer', 'name', 'lmv0p']);
    await nsExec(ns, 'ip', ['link', 'set', 'lmv0', 'up']);
    const ids = { 'loom-pod': 'x/a', 'loom-container': 'c0ffee', 'loom-ip': '10.244.1.5' };
    const ofport = await db.addPort('br-int', 'lmv0', { externalIds: ids });
    assert.ok(ofport > 0 && ofport < 0xff00, `ofport ${ofport}`);
    assert.equal(await vsctl('get', 'Interface', 'lmv0', 'ofport'), String(ofport));
    const again = await db.addPort('br-int', 'lmv0', { externalIds: { ...ids, 'loom-ip': '10.244.1.6' } });
    assert.equal(again, ofport);
    const ports = await db.listPorts('br-int');
    assert.deepEqual(
      ports.map((p) => [p.name, p.type]),
      [['br-int', 'internal'], ['lmv0', ''], ['loom-gw0', 'internal']],
    );
    assert.deepEqual(ports.find((p) => p.name === 'lmv0'), { name: 'lmv0', ofport, type: '', externalIds: { ...ids, 'loom-ip': '10.244.1.6' }, error: null });
    await db.deletePort('br-int', 'lmv0');
    await db.deletePort('br-int', 'lmv0');
    assert.equal(await db.getPort('lmv0'), null);
    assert.deepEqual((await db.listPorts('br-int')).map((p) => p.name), ['br-int', 'loom-gw0']);
  });

  it('reports the Interface error when OVS cannot open the device, and a missing bridge clearly', async () => {
    await assert.rejects(db.addPort('br-int', 'lmnodev', { timeoutMs: 3000 }), /could not attach lmnodev \(ofport -1\): .*(No such device|could not open)/);
    await db.deletePort('br-int', 'lmnodev');
    await assert.rejects(db.addPort('br-none', 'lmv9'), /bridge br-none does not exist/);
    await assert.rejects(db.addPort('br-int', 'bad name'), /invalid port name/);
  });

  it('creates a flow-based VXLAN tunnel port', async () => {
    const ofport = await db.ensureTunnelPort('br-int', 'loom-tun0', { dstPort: 4789, ofportRequest: 1 });
    assert.equal(ofport, 1);
    assert.equal(await vsctl('get', 'Interface', 'loom-tun0', 'type'), 'vxlan');
    assert.equal(await vsctl('get', 'Interface', 'loom-tun0', 'options'), '{dst_port="4789", key=flow, remote_ip=flow}');
  });

  it('reads capabilities, detects the datapath and toggles flow-restore-wait', async () => {
    const caps = await db.getCapabilities();
    assert.ok(caps.datapathTypes.includes('netdev'));
    assert.ok(caps.ifaceTypes.includes('vxlan'));
    assert.equal(await db.detectDatapathType(false), 'netdev');
    assert.equal(await db.getFlowRestoreWait(), false);
    await db.setFlowRestoreWait(true);
    assert.equal(await vsctl('get', 'Open_vSwitch', '.', 'other_config:flow-restore-wait'), '"true"');
    assert.equal(await db.getFlowRestoreWait(), true);
    await db.setFlowRestoreWait(false);
    assert.equal(await db.getFlowRestoreWait(), false);
  });

  it('reconnects after ovsdb-server restarts and keeps working', async () => {
    let reconnects = 0;
    db.onReconnect = () => reconnects++;
    await ovs!.restartOvsdbServer();
    const names = (await db.listPorts('br-int')).map((p) => p.name);
    assert.deepEqual(names, ['br-int', 'loom-gw0', 'loom-tun0']);
    assert.equal(db.isConnected(), true);
    assert.equal(reconnects, 1);
  });
});
