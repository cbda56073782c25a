// Pod interface lifecycle: create (CNI ADD), delete (DEL), check (CHECK), leak listing (GC).
// Host side: in-process rtnetlink + /proc/sys in the current netns. Pod side: sockets opened in the
// pod netns through setns (podside.ts; nsenter spawns when the FFI is missing). Any failure after
// the veth exists removes it before rethrowing.
import { randomBytes } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { PodNetError } from './errors.js';
import { HOST_VETH_PREFIX } from './naming.js';
import { inspectPodSide } from './podns.js';
import { setUpPodSide } from './podside.js';
import { createVethPair, deleteLink, getIpv4Addresses, getLink, listLinks, netlinkErrno, setLinkUp } from './rtnl.js';
import { writeHostVethSysctls } from './sysctl.js';
import { bytesToMac, validateCidr, validateGateway, validateIfname, validateMac, validateMtu, validateNetnsPath } from './validate.js';

export interface PodInterfaceSpec {
  /** Path of the pod network namespace (CNI_NETNS), e.g. /var/run/netns/cni-... or /proc/PID/ns/net */
  netnsPath: string;
  /** Interface name inside the pod (CNI_IFNAME) */
  ifname: string;
  /** Host-side veth name, usually hostVethName(containerId, ifname) */
  hostIfname: string;
  mtu: number;
  /** Pod IPv4 address with prefix, e.g. 10.244.1.5/24 */
  address: string;
  /** Default gateway of the pod, inside `address`'s subnet */
  gateway: string;
  /** Pod MAC; a random locally administered one when absent */
  podMac?: string;
  /** Turn tx checksum offload off inside the pod (needed on the OVS netdev datapath) */
  disableTxChecksum: boolean;
}

export interface PodInterfaceResult {
  hostIfname: string;
  hostMac: string;
  podMac: string;
  mtu: number;
}

/** Random unicast, locally administered MAC. */
export function randomMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return bytesToMac(bytes);
}

async function openNetns(netnsPath: string): Promise<import('node:fs/promises').FileHandle> {
  try {
    return await open(netnsPath, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new PodNetError('NETNS_NOT_FOUND', `network namespace ${netnsPath} does not exist: was the sandbox already removed?`, { cause: err });
    }
    throw new PodNetError('NETNS_INVALID', `cannot open network namespace ${netnsPath}: ${(err as Error).message}`, { cause: err });
  }
}

export interface CreateHooks {
  /**
   * Called once the host end is up (sysctls set) while the pod end is still being configured: lets
   * the caller attach the host end (e.g. to an OVS bridge) in parallel. Not earlier: when OVS adds
   * a port it sets PROMISC by writing back the whole flags word it read, which can undo a link-up
   * made in between (seen: a pod's host veth left down). Not called when the host end fails.
   */
  paired?: () => void;
}

/** Create the pod's veth (peer born in the pod netns) and configure both ends. */
export async function createPodInterface(spec: PodInterfaceSpec, hooks: CreateHooks = {}): Promise<PodInterfaceResult> {
  const netnsPath = validateNetnsPath('netnsPath', spec.netnsPath);
  const ifname = validateIfname('ifname', spec.ifname);
  const hostIfname = validateIfname('hostIfname', spec.hostIfname);
  const mtu = validateMtu('mtu', spec.mtu);
  const cidr = validateCidr('address', spec.address);
  const gateway = validateGateway('gateway', spec.gateway, cidr);
  const podMac = spec.podMac === undefined ? randomMac() : validateMac('podMac', spec.podMac);
  const hostMac = randomMac();

  const netns = await openNetns(netnsPath); // kept open: the pod side is configured through this fd
  try {
    try {
      await createVethPair({ ifname: hostIfname, mtu, mac: hostMac }, { ifname, mtu, mac: podMac, netnsFd: netns.fd });
    } catch (err) {
      throw await explainCreateError(err, { netnsPath, ifname, hostIfname });
    }
    try {
      writeHostVethSysctls(hostIfname); // before link up: no IPv6 link-local, no ARP answers ever
      // Both ends are configured at once; wait for both before failing so nothing runs after cleanup.
      const results = await Promise.allSettled([
        setLinkUp(hostIfname).then(() => hooks.paired?.()),
        setUpPodSide({ netnsFd: netns.fd, netnsPath, ifname, address: `${cidr.ip}/${cidr.prefixLength}`, gateway, disableTxChecksum: spec.disableTxChecksum }),
      ]);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    } catch (err) {
      await deleteLink(hostIfname).catch(() => undefined); // removes the pod end as well
      throw err;
    }
  } finally {
    await netns.close();
  }
  return { hostIfname, hostMac, podMac, mtu };
}

async function explainCreateError(err: unknown, c: { netnsPath: string; ifname: string; hostIfname: string }): Promise<PodNetError> {
  const errno = netlinkErrno(err);
  if (errno === 'EEXIST') {
    const hostTaken = (await getLink(c.hostIfname).catch(() => undefined)) !== undefined;
    return new PodNetError(
      'ALREADY_EXISTS',
      hostTaken
        ? `host interface ${c.hostIfname} already exists: this container already has ${c.ifname}, or a previous DEL was missed (DEL it first)`
        : `interface ${c.ifname} already exists in netns ${c.netnsPath}: choose another CNI_IFNAME or DEL the existing attachment`,
      { cause: err },
    );
  }
  if (errno === 'EINVAL' || errno === 'EBADF') {
    return new PodNetError('NETNS_INVALID', `${c.netnsPath} is not a network namespace (kernel said ${errno})`, { cause: err });
  }
  if (err instanceof PodNetError) return err;
  return new PodNetError('KERNEL_ERROR', `creating veth ${c.hostIfname} <-> ${c.ifname} in ${c.netnsPath} failed: ${(err as Error).message}`, { cause: err });
}

export interface DeletePodInterfaceSpec {
  hostIfname: string;
  /** Accepted for symmetry with create; deleting the host end removes the pod end, so it is not used. */
  netnsPath?: string;
  ifname?: string;
}

/**
 * Idempotent: deleting the host end removes its peer in the pod netns too. Succeeds when the
 * veth or the netns is already gone. The pod netns is never touched (an interface there that is
 * not our veth's peer is not ours to delete).
 */
export async function deletePodInterface(spec: DeletePodInterfaceSpec): Promise<void> {
  const hostIfname = validateIfname('hostIfname', spec.hostIfname);
  const link = await getLink(hostIfname);
  if (!link) return;
  if (link.kind !== 'veth') {
    throw new PodNetError('INVALID_ARGUMENT', `refusing to delete ${hostIfname}: it is a ${link.kind || 'non-veth'} device, not a pod veth`);
  }
  await deleteLink(hostIfname);
}

export interface CheckPodInterfaceSpec {
  netnsPath: string;
  ifname: string;
  hostIfname: string;
  address: string;
  gateway: string;
  mtu: number;
  podMac?: string;
}

/** Human-readable problems with a pod's interface; empty when everything is in place. */
export async function checkPodInterface(spec: CheckPodInterfaceSpec): Promise<string[]> {
  const netnsPath = validateNetnsPath('netnsPath', spec.netnsPath);
  const ifname = validateIfname('ifname', spec.ifname);
  const hostIfname = validateIfname('hostIfname', spec.hostIfname);
  const mtu = validateMtu('mtu', spec.mtu);
  const cidr = validateCidr('address', spec.address);
  const gateway = validateGateway('gateway', spec.gateway, cidr);
  const podMac = spec.podMac === undefined ? undefined : validateMac('podMac', spec.podMac);
  const problems: string[] = [];

  const host = await getLink(hostIfname);
  if (!host) problems.push(`host veth ${hostIfname} is missing`);
  else {
    if (host.kind !== 'veth') problems.push(`host interface ${hostIfname} is a ${host.kind || 'non-veth'} device, not a veth`);
    if (!host.up) problems.push(`host veth ${hostIfname} is down`);
    if (host.mtu !== mtu) problems.push(`host veth ${hostIfname} has MTU ${host.mtu}, expected ${mtu}`);
  }

  if (!(await stat(netnsPath).then(() => true, () => false))) {
    problems.push(`pod network namespace ${netnsPath} does not exist`);
    return problems;
  }
  const pod = await inspectPodSide(netnsPath, ifname);
  if (!pod.link) {
    problems.push(`pod interface ${ifname} is missing in ${netnsPath}`);
    return problems;
  }
  if (!pod.link.up) problems.push(`pod interface ${ifname} is down`);
  if (pod.link.mtu !== mtu) problems.push(`pod interface ${ifname} has MTU ${pod.link.mtu}, expected ${mtu}`);
  if (podMac && pod.link.mac.toLowerCase() !== podMac) problems.push(`pod interface ${ifname} has MAC ${pod.link.mac}, expected ${podMac}`);
  const wanted = `${cidr.ip}/${cidr.prefixLength}`;
  if (!pod.link.ipv4.includes(wanted)) problems.push(`pod interface ${ifname} is missing address ${wanted} (has ${pod.link.ipv4.join(', ') || 'none'})`);
  if (!pod.defaultRoutes.some((r) => r.gateway === gateway && r.dev === ifname)) {
    problems.push(`default route via ${gateway} dev ${ifname} is missing in the pod`);
  }
  return problems;
}

/** True when a link with this name exists in the current netns. */
export async function hostInterfaceExists(name: string): Promise<boolean> {
  return (await getLink(validateIfname('name', name))) !== undefined;
}

/** Names of veths in the current netns whose name starts with `prefix` (GC of leaked pod veths). */
export async function listHostVeths(prefix: string = HOST_VETH_PREFIX): Promise<string[]> {
  return (await listLinks()).filter((l) => l.kind === 'veth' && l.name.startsWith(prefix)).map((l) => l.name).sort();
}

/** MTU of an interface of the current netns (e.g. the uplink, for transport MTU detection). */
export async function getInterfaceMtu(name: string): Promise<number> {
  const link = await getLink(validateIfname('name', name));
  if (!link) throw new PodNetError('INVALID_ARGUMENT', `interface ${name} does not exist in the agent's network namespace`);
  return link.mtu;
}

/** First IPv4 address ("a.b.c.d/len") of an interface of the current netns, undefined if it has none. */
export async function getInterfaceAddress(name: string): Promise<string | undefined> {
  const link = await getLink(validateIfname('name', name));
  if (!link) throw new PodNetError('INVALID_ARGUMENT', `interface ${name} does not exist in the agent's network namespace`);
  return (await getIpv4Addresses(link.index))[0];
}
