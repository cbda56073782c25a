// The baseline the datapath benchmark compares Loom against: the same userspace OVS datapath with no
// pipeline at all. Two "nodes" (namespaces), each with its own OVS instance, a bridge br-int with the
// default NORMAL flow (fail_mode standalone, no controller), two pods as veths on it, and one plain
// VXLAN port (remote_ip = the other node, key 1). Userspace tunnelling is set up as Loom does it: the
// node IP sits on br-phy, which holds the underlay veth (ovs-userspace notes, pitfall 3). The underlay
// is a Linux bridge in its own namespace. Everything is named `loomt-dpb-*`.
import { execa } from 'execa';
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, deleteNetns, listNetns, isAlive } from '../../node-agent/test/support/netns.js';
import { startOvsInstance, type OvsInstance } from '../../node-agent/test/support/ovs-instance.js';
import { attachToUnderlay, createUnderlayBridge } from '../../e2e/lib/underlay.js';

/** Prefix of every namespace and temp dir of the datapath benchmark. */
export const PLAIN_PREFIX = 'loomt-dpb-';
export const POD_MTU = 1450;
const POD_SUBNET = '10.99.0';
const UNDERLAY_NS = `${PLAIN_PREFIX}ul`;
/** The baseline's own namespaces (other `loomt-dpb-*` names, e.g. the benchmark's e2e cluster, are not its). */
const PLAIN_NS_RE = /^loomt-dpb-(ul|n\d+(p\d+)?)$/;
const NODE_COUNT = 2;
const PODS_PER_NODE = 2;

export interface PlainPod {
  /** `node<i>/pod<j>` */
  key: string;
  netns: string;
  ip: string;
  node: number;
}

export interface PlainSetup {
  pods: PlainPod[];
  /** the pod `pod` of node `node` (both 1-based) */
  pod(node: number, pod: number): PlainPod;
  teardown(): Promise<void>;
}

const nodeNs = (i: number): string => `${PLAIN_PREFIX}n${i}`;
const podNs = (i: number, j: number): string => `${PLAIN_PREFIX}n${i}p${j}`;
const nodeIp = (i: number): string => `10.0.0.${10 + i}`;
const podIp = (i: number, j: number): string => `${POD_SUBNET}.${10 * i + j}`;

async function run(what: string, cmd: string, args: string[]): Promise<string> {
  const r = await execa(cmd, args, { reject: false, timeout: 20000 });
  if (r.exitCode !== 0) throw new Error(`plain OVS baseline: ${what} failed (${cmd} ${args.join(' ')}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

const ipIn = (ns: string, args: string[]): Promise<string> => run(`ip in ${ns}`, 'ip', ['-n', ns, ...args]);
const vsctl = (ovs: OvsInstance, args: string[]): Promise<string> => run(`ovs-vsctl in ${ovs.netns}`, 'ovs-vsctl', [`--db=${ovs.dbSock}`, '--timeout=20', ...args]);

/** br-phy holding eth0, with eth0's MAC and address moved onto br-phy's LOCAL port. */
async function setupPhysicalBridge(ovs: OvsInstance, node: number): Promise<void> {
  const ns = nodeNs(node);
  const mac = (await run('reading the MAC of eth0', 'ip', ['netns', 'exec', ns, 'cat', '/sys/class/net/eth0/address'])).trim();
  await vsctl(ovs, ['add-br', 'br-phy', '--', 'set', 'bridge', 'br-phy', 'datapath_type=netdev', 'fail_mode=standalone', `other_config:hwaddr=${mac}`]);
  await vsctl(ovs, ['add-port', 'br-phy', 'eth0']);
  await ipIn(ns, ['addr', 'del', `${nodeIp(node)}/24`, 'dev', 'eth0']);
  await ipIn(ns, ['link', 'set', 'br-phy', 'mtu', '1500', 'up']);
  await ipIn(ns, ['addr', 'add', `${nodeIp(node)}/24`, 'dev', 'br-phy']);
}

/** A pod netns with eth0 (MTU 1450, tx checksum offload off) whose host end is a port of br-int. */
async function addPod(ovs: OvsInstance, node: number, pod: number): Promise<PlainPod> {
  const ns = podNs(node, pod);
  const host = `dpb-h${pod}`;
  await createNetns(ns);
  await ipIn(nodeNs(node), ['link', 'add', host, 'mtu', String(POD_MTU), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(POD_MTU), 'netns', ns]);
  await ipIn(nodeNs(node), ['link', 'set', host, 'up']);
  await run('disabling IPv6 on the host veth', 'ip', ['netns', 'exec', nodeNs(node), 'sysctl', '-q', '-w', `net.ipv6.conf.${host}.disable_ipv6=1`]);
  await ipIn(ns, ['addr', 'add', `${podIp(node, pod)}/24`, 'dev', 'eth0']);
  await ipIn(ns, ['link', 'set', 'eth0', 'up']);
  await run('turning tx checksum offload off in the pod', 'ip', ['netns', 'exec', ns, 'ethtool', '-K', 'eth0', 'tx', 'off']);
  await vsctl(ovs, ['add-port', 'br-int', host]);
  return { key: `node${node}/pod${pod}`, netns: ns, ip: podIp(node, pod), node };
}

async function setupNode(node: number, peer: number): Promise<{ ovs: OvsInstance; pods: PlainPod[] }> {
  await createNetns(nodeNs(node));
  await attachToUnderlay(UNDERLAY_NS, { netns: nodeNs(node), bridgePort: `v-n${node}`, ip: nodeIp(node), defaultRoute: false });
  const ovs = await startOvsInstance(nodeNs(node), { dirPrefix: `${PLAIN_PREFIX}ovs-` });
  try {
    await setupPhysicalBridge(ovs, node);
    await vsctl(ovs, ['add-br', 'br-int', '--', 'set', 'bridge', 'br-int', 'datapath_type=netdev', 'fail_mode=standalone']);
    await vsctl(ovs, ['add-port', 'br-int', 'vx0', '--', 'set', 'interface', 'vx0', 'type=vxlan', `options:remote_ip=${nodeIp(peer)}`, 'options:key=1']);
    await ipIn(nodeNs(node), ['link', 'set', 'br-int', 'up']);
    const pods: PlainPod[] = [];
    for (let j = 1; j <= PODS_PER_NODE; j++) pods.push(await addPod(ovs, node, j));
    return { ovs, pods };
  } catch (e) {
    await ovs.stop();
    throw e;
  }
}

/** Removes every `loomt-dpb-*` namespace (killing what runs inside). OVS dirs are removed by stop(). */
async function removeNamespaces(): Promise<void> {
  const mine = (await listNetns()).filter((n) => PLAIN_NS_RE.test(n));
  // pods first, then nodes, the underlay last
  const rank = (n: string): number => (/p\d+$/.test(n) ? 0 : n === UNDERLAY_NS ? 2 : 1);
  for (const r of [0, 1, 2]) await Promise.all(mine.filter((n) => rank(n) === r).map((n) => deleteNetns(n)));
}

/** Where node-agent/test/support/netns.ts records the pid that created each test namespace. */
const NETNS_OWNER_DIR = '/run/loom-test-owners';


/** Removes what a killed earlier run left; throws if a live process owns `loomt-dpb-*` namespaces. */
async function removeLeftovers(): Promise<void> {
  const live: string[] = [];
  for (const ns of (await listNetns()).filter((n) => PLAIN_NS_RE.test(n))) {
    const owner = Number((await readFile(join(NETNS_OWNER_DIR, ns), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) live.push(`${ns} (pid ${owner})`);
    else await deleteNetns(ns);
  }
  if (live.length > 0) throw new Error(`namespaces ${live.join(', ')} belong to another running datapath benchmark: wait for it to finish (or kill it) and run again`);
  // No live run owns the prefix: OVS dirs of earlier runs are leftovers.
  for (const entry of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (entry.startsWith(`${PLAIN_PREFIX}ovs-`)) await rm(join(tmpdir(), entry), { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }
}

/**
 * Builds the baseline (about 2 s). Refuses to start while `loomt-dpb-*` namespaces of a live
 * process exist; removes those of a dead one. On failure removes what it made and throws.
 */
export async function startPlainSetup(): Promise<PlainSetup> {
  await removeLeftovers();
  const instances: OvsInstance[] = [];
  const teardown = async (): Promise<void> => {
    await Promise.all(instances.splice(0).map((o) => o.stop().catch(() => undefined)));
    await removeNamespaces();
  };
  try {
    await createNetns(UNDERLAY_NS);
    await createUnderlayBridge(UNDERLAY_NS);
    const pods: PlainPod[] = [];
    for (let i = 1; i <= NODE_COUNT; i++) {
      const n = await setupNode(i, i === 1 ? 2 : 1);
      instances.push(n.ovs);
      pods.push(...n.pods);
    }
    const pod = (node: number, j: number): PlainPod => {
      const p = pods.find((x) => x.node === node && x.netns === podNs(node, j));
      if (!p) throw new Error(`the plain baseline has no pod ${j} on node ${node} (nodes 1..${NODE_COUNT}, pods 1..${PODS_PER_NODE})`);
      return p;
    };
    return { pods, pod, teardown };
  } catch (e) {
    await teardown();
    throw new Error(`building the plain OVS baseline failed: ${(e as Error).message}`);
  }
}
