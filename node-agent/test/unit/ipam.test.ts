import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adopt, allocate, emptyIpamState, findByOwner, IpamError, releaseOwner } from '../../src/ipam/allocator.js';
import { IpamStore } from '../../src/ipam/store.js';

const owner = (id: string, ifname = 'eth0') => ({ containerId: id, ifname });

describe('ipam allocator', () => {
  it('skips network, gateway and broadcast addresses', () => {
    let s = emptyIpamState('10.244.1.0/29'); // .0 net, .1 gw, .2-.6 usable, .7 broadcast
    const ips: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = allocate(s, owner(`c${i}`));
      s = r.state;
      ips.push(r.ip);
    }
    assert.deepEqual(ips, ['10.244.1.2', '10.244.1.3', '10.244.1.4', '10.244.1.5', '10.244.1.6']);
    assert.throws(() => allocate(s, owner('c5')), (e: unknown) => e instanceof IpamError && e.reason === 'exhausted' && /no free IP/.test(e.message));
  });

  it('gives a retried ADD the same IP (keyed by container id + ifname)', () => {
    const s0 = emptyIpamState('10.244.1.0/24');
    const a = allocate(s0, owner('c1'));
    const b = allocate(a.state, owner('c1'));
    assert.equal(b.ip, a.ip);
    assert.equal(Object.keys(b.state.allocations).length, 1);
    const c = allocate(b.state, owner('c1', 'net1'));
    assert.notEqual(c.ip, a.ip);
  });

  it('does not reuse a freed IP at once and recovers after exhaustion', () => {
    let s = emptyIpamState('10.244.1.0/29');
    for (let i = 0; i < 5; i++) s = allocate(s, owner(`c${i}`)).state;
    const freed = releaseOwner(s, 'c1', 'eth0');
    assert.deepEqual(freed.released, ['10.244.1.3']);
    const again = allocate(freed.state, owner('new'));
    assert.equal(again.ip, '10.244.1.3');
    assert.equal(findByOwner(again.state, 'new', 'eth0'), '10.244.1.3');
  });

  it('release is idempotent and adopt refuses a conflicting owner', () => {
    const s = allocate(emptyIpamState('10.244.1.0/24'), owner('c1')).state;
    const r1 = releaseOwner(s, 'c1', 'eth0');
    const r2 = releaseOwner(r1.state, 'c1', 'eth0');
    assert.deepEqual(r2.released, []);
    assert.equal(r2.state, r1.state);
    assert.throws(() => adopt(s, '10.244.1.2', owner('other')), /is held by c1\/eth0/);
  });

  it('rejects invalid CIDRs', () => {
    assert.throws(() => emptyIpamState('10.244.1.1/24'), /invalid pod CIDR/);
    assert.throws(() => emptyIpamState('nonsense'), /invalid pod CIDR/);
  });
});

describe('ipam store', () => {
  let dir: string;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'loomt-ipam-')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  it('persists allocations across reopen', async () => {
    const s1 = await IpamStore.open(dir, '10.244.2.0/24');
    const ip = await s1.update((s) => { const r = allocate(s, owner('c1')); return { state: r.state, value: r.ip }; });
    const s2 = await IpamStore.open(dir, '10.244.2.0/24');
    assert.equal(findByOwner(s2.current, 'c1', 'eth0'), ip);
    const onDisk = JSON.parse(await readFile(join(dir, 'ipam.json'), 'utf8'));
    assert.equal(onDisk.allocations[ip].containerId, 'c1');
  });

  it('never hands out the same IP to concurrent requests', async () => {
    const store = await IpamStore.open(dir, '10.244.3.0/24');
    const ips = await Promise.all(
      Array.from({ length: 100 }, (_, i) => store.update((s) => { const r = allocate(s, owner(`c${i}`)); return { state: r.state, value: r.ip }; })),
    );
    assert.equal(new Set(ips).size, 100);
    const reopened = await IpamStore.open(dir, '10.244.3.0/24');
    assert.equal(Object.keys(reopened.current.allocations).length, 100);
  });

  it('a failed change leaves state untouched and later changes still run', async () => {
    const store = await IpamStore.open(dir, '10.244.4.0/30'); // one usable address
    await store.update((s) => { const r = allocate(s, owner('a')); return { state: r.state, value: r.ip }; });
    await assert.rejects(store.update((s) => { const r = allocate(s, owner('b')); return { state: r.state, value: r.ip }; }), /no free IP/);
    const released = await store.update((s) => { const r = releaseOwner(s, 'a', 'eth0'); return { state: r.state, value: r.released }; });
    assert.deepEqual(released, ['10.244.4.2']);
  });

  it('stage: the value is there at once, later changes see it, and durable resolves once it is on disk', async () => {
    const store = await IpamStore.open(dir, '10.244.5.0/24');
    const alloc = (c: string) => store.stage((s) => { const r = allocate(s, owner(c)); return { state: r.state, value: r.ip }; });
    const a = alloc('a');
    const b = alloc('b'); // staged while a's write is in flight
    assert.notEqual(a.value, b.value);
    assert.equal(findByOwner(store.current, 'b', 'eth0'), b.value);
    await Promise.all([a.durable, b.durable]);
    const onDisk = JSON.parse(await readFile(join(dir, 'ipam.json'), 'utf8'));
    assert.deepEqual(Object.keys(onDisk.allocations).sort(), [a.value, b.value].sort());
    // A read-only change still waits for writes it may have read from.
    const c = alloc('c');
    const peek = store.stage((s) => ({ state: s, value: findByOwner(s, 'c', 'eth0') }));
    assert.equal(peek.value, c.value);
    await peek.durable;
    assert.ok(JSON.parse(await readFile(join(dir, 'ipam.json'), 'utf8')).allocations[c.value]);
  });

  it('stage: a failed write rejects durable, memory keeps the change, and the next write catches the disk up', async () => {
    const store = await IpamStore.open(dir, '10.244.6.0/24');
    await rm(dir, { recursive: true, force: true }); // the state directory disappears: the write fails
    const a = store.stage((s) => { const r = allocate(s, owner('a')); return { state: r.state, value: r.ip }; });
    await assert.rejects(a.durable, /ENOENT/);
    assert.equal(findByOwner(store.current, 'a', 'eth0'), a.value);
    await mkdir(dir, { recursive: true });
    const b = await store.update((s) => { const r = allocate(s, owner('b')); return { state: r.state, value: r.ip }; });
    const onDisk = JSON.parse(await readFile(join(dir, 'ipam.json'), 'utf8'));
    assert.deepEqual(Object.keys(onDisk.allocations).sort(), [a.value, b].sort());
  });

  it('stage: a change that throws throws at once and changes nothing', async () => {
    const store = await IpamStore.open(dir, '10.244.4.0/30');
    store.stage((s) => { const r = allocate(s, owner('a')); return { state: r.state, value: r.ip }; });
    const before = store.current;
    assert.throws(() => store.stage((s) => { const r = allocate(s, owner('b')); return { state: r.state, value: r.ip }; }), /no free IP/);
    assert.equal(store.current, before);
  });

  it('refuses a corrupt state file with a clear error', async () => {
    await writeFile(join(dir, 'ipam.json'), '{not json');
    await assert.rejects(IpamStore.open(dir, '10.244.2.0/24'), /not valid JSON/);
  });
});
