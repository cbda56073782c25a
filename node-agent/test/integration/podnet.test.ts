// Pod interface plumbing against the real kernel. The code under test runs in a child process
// inside a loomt- "node" netns (as the agent does in e2e), so nothing touches the root netns.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { hostVethName } from '../../src/podnet/index.js';
import type { CliResult, CliStep } from '../../src/podnet/cli.js';
import { createNetns, deleteNetns, listNetns, nsExec, requireRoot } from '../support/netns.js';

const NODE_BIN = fileURLToPath(new URL('../../../node_modules/.bin/node', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/podnet/cli.ts', import.meta.url));
const PREFIX = 'loomt-podnet-';
const run = randomBytes(3).toString('hex');
const nodeNs = `${PREFIX}node-${run}`;
let podSeq = 0;

/** Run podnet steps inside the node netns (in one process); returns one result per step. */
async function driver(steps: CliStep[], env: Record<string, string> = {}): Promise<CliResult[]> {
  const r = await execa('ip', ['netns', 'exec', nodeNs, NODE_BIN, '--import', 'tsx', CLI, JSON.stringify(steps)], { timeout: 30000, env });
  return JSON.parse(r.stdout) as CliResult[];
}
/** Forces the nsenter/ip/ethtool spawn path in the driver process. */
const SPAWN_FALLBACK = { LOOM_PODNET_FFI: 'off' };
const netnsInode = async (name: string) => (await stat(`/var/run/netns/${name}`)).ino;
async function one(step: CliStep): Promise<CliResult> {
  return (await driver([step]))[0]!;
}
function okValue<T>(r: CliResult): T {
  assert.ok(r.ok, `expected success, got ${JSON.stringify(r)}`);
  return r.value as T;
}
function errCode(r: CliResult): string {
  assert.ok(!r.ok, `expected an error, got ${JSON.stringify(r)}`);
  return r.error.code;
}

async function newPodNs(): Promise<{ name: string; path: string }> {
  const name = `${PREFIX}pod${++podSeq}-${run}`;
  await createNetns(name);
  return { name, path: `/var/run/netns/${name}` };
}
async function nodeVeths(): Promise<string[]> {
  const { stdout } = await execa('ip', ['-n', nodeNs, '-j', 'link', 'show', 'type', 'veth']);
  return (JSON.parse(stdout || '[]') as Array<{ ifname: string }>).map((l) => l.ifname).sort();
}
async function podLinks(ns: string): Promise<string[]> {
  const { stdout } = await execa('ip', ['-n', ns, '-j', 'link', 'show']);
  return (JSON.parse(stdout) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
}
function spec(netnsPath: string, hostIfname: string, extra: Partial<Extract<CliStep, { op: 'create' }>['args']> = {}) {
  return { netnsPath, ifname: 'eth0', hostIfname, mtu: 1450, address: '10.244.1.5/24', gateway: '10.244.1.1', disableTxChecksum: true, ...extra };
}
const newHostName = () => hostVethName(randomBytes(32).toString('hex'), 'eth0');

/** Leftovers of killed runs: our prefix and older than 15 minutes (a concurrent run's namespaces are younger). */
async function removeStaleNamespaces(): Promise<void> {
  for (const ns of await listNetns()) {
    if (!ns.startsWith(PREFIX)) continue;
    const created = await stat(`/var/run/netns/${ns}`).then((s) => s.mtimeMs, () => Date.now());
    if (Date.now() - created > 15 * 60_000) await deleteNetns(ns);
  }
}

describe('podnet (integration, root)', function () {
  const pods: string[] = [];
  const podNs = async () => { const p = await newPodNs(); pods.push(p.name); return p; };

  before(async function () {
    requireRoot(this);
    await removeStaleNamespaces();
    await createNetns(nodeNs);
  });
  afterEach(async () => {
    while (pods.length) await deleteNetns(pods.pop()!);
    for (const veth of await nodeVeths().catch(() => [] as string[])) await execa('ip', ['-n', nodeNs, 'link', 'del', veth], { reject: false });
  });
  after(async () => {
    await deleteNetns(nodeNs);
  });

  it('creates the pod interface with address, route, MTU, MAC, tx off; host end up with the sysctls; lo untouched', async () => {
    const pod = await podNs();
    const loBefore = (await execa('ip', ['-n', pod.name, '-j', 'addr', 'show', 'lo'])).stdout;
    const host = newHostName();
    const [created, check] = await driver([
      { op: 'create', args: spec(pod.path, host, { podMac: '0a:58:0a:f4:01:05' }) },
      { op: 'check', args: { ...spec(pod.path, host), podMac: '0a:58:0a:f4:01:05' } },
    ]);
    const res = okValue<{ hostIfname: string; hostMac: string; podMac: string; mtu: number }>(created!);
    assert.equal(res.hostIfname, host);
    assert.equal(res.podMac, '0a:58:0a:f4:01:05');
    assert.equal(res.mtu, 1450);
    assert.deepEqual(okValue(check!), []);

    const [eth0] = JSON.parse((await execa('ip', ['-n', pod.name, '-j', 'addr', 'show', 'eth0'])).stdout) as Array<{ mtu: number; address: string; flags: string[]; addr_info: Array<{ family: string; local: string; prefixlen: number }> }>;
    assert.equal(eth0!.mtu, 1450);
    assert.equal(eth0!.address, '0a:58:0a:f4:01:05');
    assert.ok(eth0!.flags.includes('UP'));
    assert.ok(eth0!.addr_info.some((a) => a.family === 'inet' && a.local === '10.244.1.5' && a.prefixlen === 24));
    const routes = JSON.parse((await execa('ip', ['-n', pod.name, '-j', 'route', 'show', 'default'])).stdout) as Array<{ gateway: string; dev: string }>;
    assert.deepEqual(routes.map((r) => [r.gateway, r.dev]), [['10.244.1.1', 'eth0']]);
    assert.match((await nsExec(pod.name, 'ethtool', ['-k', 'eth0'])).stdout, /^tx-checksumming: off$/m);
    assert.equal((await execa('ip', ['-n', pod.name, '-j', 'addr', 'show', 'lo'])).stdout, loBefore);

    const [hostLink] = JSON.parse((await execa('ip', ['-n', nodeNs, '-j', 'link', 'show', host])).stdout) as Array<{ mtu: number; address: string; flags: string[] }>;
    assert.ok(hostLink!.flags.includes('UP'));
    assert.equal(hostLink!.mtu, 1450);
    assert.equal(hostLink!.address, res.hostMac);
    const sysctl = async (path: string) => (await nsExec(nodeNs, 'cat', [path])).stdout.trim();
    assert.equal(await sysctl(`/proc/sys/net/ipv4/conf/${host}/arp_ignore`), '8');
    assert.equal(await sysctl(`/proc/sys/net/ipv4/conf/${host}/forwarding`), '0');
    assert.equal(await sysctl(`/proc/sys/net/ipv6/conf/${host}/disable_ipv6`), '1');
    assert.equal((await execa('ip', ['-n', nodeNs, '-6', 'addr', 'show', 'dev', host])).stdout, '');
    assert.deepEqual(okValue(await one({ op: 'listHostVeths', args: {} })), [host]);
  });

  it('create twice fails with ALREADY_EXISTS and leaks nothing; so does an ifname already in the pod', async () => {
    const pod = await podNs();
    const host = newHostName();
    const [first, second, third] = await driver([
      { op: 'create', args: spec(pod.path, host) },
      { op: 'create', args: spec(pod.path, host) },
      { op: 'create', args: spec(pod.path, newHostName()) }, // same pod ifname, other host name
    ]);
    okValue(first!);
    assert.equal(errCode(second!), 'ALREADY_EXISTS');
    assert.equal(errCode(third!), 'ALREADY_EXISTS');
    assert.match(third!.ok ? '' : third!.error.message, /eth0 already exists/);
    assert.deepEqual(await nodeVeths(), [host]);
    assert.deepEqual(await podLinks(pod.name), ['eth0', 'lo']);
    assert.deepEqual(okValue(await one({ op: 'check', args: spec(pod.path, host) })), [], 'the first interface must survive');
  });

  it('a missing or non-netns path fails with a typed error and leaks nothing', async () => {
    const notNs = join(tmpdir(), `${PREFIX}file-${run}`);
    await writeFile(notNs, 'not a netns');
    try {
      const [missing, notNetns] = await driver([
        { op: 'create', args: spec(`/var/run/netns/${PREFIX}absent-${run}`, newHostName()) },
        { op: 'create', args: spec(notNs, newHostName()) },
      ]);
      assert.equal(errCode(missing!), 'NETNS_NOT_FOUND');
      assert.equal(errCode(notNetns!), 'NETNS_INVALID');
      assert.deepEqual(await nodeVeths(), []);
    } finally {
      await rm(notNs, { force: true });
    }
  });

  async function podWithDefaultRoute() {
    const pod = await podNs();
    await execa('ip', ['-n', pod.name, 'link', 'add', 'other0', 'type', 'veth', 'peer', 'name', 'other1']);
    await execa('ip', ['-n', pod.name, 'link', 'set', 'other0', 'up']);
    await execa('ip', ['-n', pod.name, 'route', 'add', 'default', 'dev', 'other0']);
    return pod;
  }

  it('a failure midway (pod already has a default route) removes the veth before rethrowing; the thread is back in the node netns', async () => {
    const pod = await podWithDefaultRoute();
    const [r, counts, inode] = await driver([
      { op: 'create', args: spec(pod.path, newHostName()) },
      { op: 'podSideCounts', args: {} },
      { op: 'threadNetnsInode', args: {} },
    ]);
    assert.equal(errCode(r!), 'KERNEL_ERROR');
    assert.match(r!.ok ? '' : r!.error.message, /default route via 10\.244\.1\.1 dev eth0 .*EEXIST/);
    assert.deepEqual(okValue(counts!), { inProcess: 1, spawnFallback: 0 });
    assert.equal(okValue(inode!), await netnsInode(nodeNs));
    assert.deepEqual(await nodeVeths(), []);
    assert.deepEqual(await podLinks(pod.name), ['lo', 'other0', 'other1']);
  });

  it('spawn fallback (LOOM_PODNET_FFI=off): same failure is COMMAND_FAILED and leaks nothing', async () => {
    const pod = await podWithDefaultRoute();
    const [r, counts] = await driver([{ op: 'create', args: spec(pod.path, newHostName()) }, { op: 'podSideCounts', args: {} }], SPAWN_FALLBACK);
    assert.equal(errCode(r!), 'COMMAND_FAILED');
    assert.deepEqual(okValue(counts!), { inProcess: 0, spawnFallback: 1 });
    assert.deepEqual(await nodeVeths(), []);
    assert.deepEqual(await podLinks(pod.name), ['lo', 'other0', 'other1']);
  });

  it('configures pod ends in process (no spawn), many in one process, and leaves the thread in the node netns', async () => {
    const podList = [await podNs(), await podNs(), await podNs()];
    const hosts = podList.map(() => newHostName());
    const results = await driver([
      { op: 'threadNetnsInode', args: {} },
      ...podList.map((p, i) => ({ op: 'create' as const, args: spec(p.path, hosts[i]!, { disableTxChecksum: i !== 2, address: `10.244.1.${10 + i}/24` }) })),
      ...podList.map((p, i) => ({ op: 'check' as const, args: spec(p.path, hosts[i]!, { address: `10.244.1.${10 + i}/24` }) })),
      { op: 'podSideCounts', args: {} },
      { op: 'threadNetnsInode', args: {} },
    ]);
    const nodeInode = await netnsInode(nodeNs);
    assert.equal(okValue(results[0]!), nodeInode);
    for (let i = 0; i < 3; i++) {
      okValue(results[1 + i]!);
      assert.deepEqual(okValue(results[4 + i]!), [], `pod ${i} check`);
    }
    assert.deepEqual(okValue(results[7]!), { inProcess: 3, spawnFallback: 0 });
    assert.equal(okValue(results[8]!), nodeInode);
    for (const [i, p] of podList.entries()) {
      const expected = i !== 2 ? 'off' : 'on'; // the third pod asked to keep tx checksum offload
      assert.match((await nsExec(p.name, 'ethtool', ['-k', 'eth0'])).stdout, new RegExp(`^tx-checksumming: ${expected}$`, 'm'), `pod ${i}`);
    }
    assert.deepEqual(await nodeVeths(), [...hosts].sort());
  });

  it('spawn fallback (LOOM_PODNET_FFI=off) still configures the pod end completely', async () => {
    const pod = await podNs();
    const host = newHostName();
    const [created, check, counts] = await driver([
      { op: 'create', args: spec(pod.path, host) },
      { op: 'check', args: spec(pod.path, host) },
      { op: 'podSideCounts', args: {} },
    ], SPAWN_FALLBACK);
    okValue(created!);
    assert.deepEqual(okValue(check!), []);
    assert.deepEqual(okValue(counts!), { inProcess: 0, spawnFallback: 1 });
    assert.match((await nsExec(pod.name, 'ethtool', ['-k', 'eth0'])).stdout, /^tx-checksumming: off$/m);
  });

  it('rejects invalid values before touching anything', async () => {
    const pod = await podNs();
    const results = await driver([
      { op: 'create', args: spec(pod.path, newHostName(), { mtu: 67 }) },
      { op: 'create', args: spec(pod.path, newHostName(), { ifname: '-eth0' }) },
      { op: 'create', args: spec(pod.path, newHostName(), { gateway: '10.9.9.9' }) },
      { op: 'create', args: spec(pod.path, newHostName(), { podMac: '01:00:5e:00:00:01' }) },
      { op: 'create', args: spec('relative/path', newHostName()) },
    ]);
    assert.deepEqual(results.map(errCode), Array(5).fill('INVALID_ARGUMENT'));
    assert.deepEqual(await nodeVeths(), []);
    assert.deepEqual(await podLinks(pod.name), ['lo']);
  });

  it('delete is idempotent and succeeds after the pod netns is gone', async () => {
    const pod = await podNs();
    const host = newHostName();
    const [created, del1, del2, exists] = await driver([
      { op: 'create', args: spec(pod.path, host) },
      { op: 'delete', args: { hostIfname: host, netnsPath: pod.path, ifname: 'eth0' } },
      { op: 'delete', args: { hostIfname: host, netnsPath: pod.path, ifname: 'eth0' } },
      { op: 'exists', args: { name: host } },
    ]);
    okValue(created!); okValue(del1!); okValue(del2!);
    assert.equal(okValue(exists!), false);
    assert.deepEqual(await podLinks(pod.name), ['lo']);

    const pod2 = await podNs();
    const host2 = newHostName();
    okValue(await one({ op: 'create', args: spec(pod2.path, host2) }));
    await deleteNetns(pod2.name);
    const [del3, exists2] = await driver([
      { op: 'delete', args: { hostIfname: host2, netnsPath: pod2.path, ifname: 'eth0' } },
      { op: 'exists', args: { name: host2 } },
    ]);
    okValue(del3!);
    assert.equal(okValue(exists2!), false);
  });

  it('check reports a missing route, then a deleted veth', async () => {
    const pod = await podNs();
    const host = newHostName();
    okValue(await one({ op: 'create', args: spec(pod.path, host) }));
    await execa('ip', ['-n', pod.name, 'route', 'del', 'default']);
    const noRoute = okValue<string[]>(await one({ op: 'check', args: spec(pod.path, host) }));
    assert.deepEqual(noRoute, ['default route via 10.244.1.1 dev eth0 is missing in the pod']);

    await execa('ip', ['-n', nodeNs, 'link', 'del', host]);
    const gone = okValue<string[]>(await one({ op: 'check', args: spec(pod.path, host) }));
    assert.ok(gone.some((p) => p.includes(`host veth ${host} is missing`)), JSON.stringify(gone));
    assert.ok(gone.some((p) => p.includes('pod interface eth0 is missing')), JSON.stringify(gone));
  });

  it('reads MTU and address of a node interface', async () => {
    await execa('ip', ['-n', nodeNs, 'link', 'add', 'uplink0', 'mtu', '9000', 'type', 'veth', 'peer', 'name', 'uplink1']);
    {
      await execa('ip', ['-n', nodeNs, 'addr', 'add', '192.0.2.10/24', 'dev', 'uplink0']);
      const [mtu, addr, missing] = await driver([
        { op: 'mtu', args: { name: 'uplink0' } },
        { op: 'address', args: { name: 'uplink0' } },
        { op: 'mtu', args: { name: 'nope0' } },
      ]);
      assert.equal(okValue(mtu!), 9000);
      assert.equal(okValue(addr!), '192.0.2.10/24');
      assert.equal(errCode(missing!), 'INVALID_ARGUMENT');
    } // afterEach removes the veth
  });
});
