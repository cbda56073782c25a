// The pod end configured from inside the agent process, with no spawn: an rtnetlink socket and an
// AF_INET socket are opened while the main thread is briefly in the pod netns (netns-switch.ts),
// then used from the agent's own netns. Same result as podns.ts's `ip -batch` + `ethtool -K tx off`.
import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { PodNetError } from './errors.js';
import { disableTxChecksumOffload } from './ethtool.js';
import { closeFd, openInetSocket, runInNetns, type Libc } from './netns-switch.js';
import type { PodSideConfig } from './podns.js';
import { netlinkErrno } from './rtnl.js';
import { parseIpv4, validateCidr, validateIfname, validateIpv4 } from './validate.js';

const REQUEST_TIMEOUT_MS = 5000;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const AF_INET = 2;
const RT_TABLE_MAIN = 254;

export interface InProcessPodSideConfig extends PodSideConfig {
  /** Open fd of the pod netns (the one at netnsPath). */
  netnsFd: number;
}

interface PodSockets {
  rtnl: RtNetlinkSocket;
  /** -1 when tx checksum offload is left alone */
  inetFd: number;
}

function ipv4Bytes(ip: string): Buffer {
  const n = parseIpv4(ip);
  if (n === undefined) throw new PodNetError('INVALID_ARGUMENT', `${JSON.stringify(ip)} is not an IPv4 address`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Runs with the thread inside the pod netns: only socket creation, nothing that can wait. */
function openPodSockets(c: Libc, withInet: boolean): PodSockets {
  const rtnl = createRtNetlink();
  try {
    return { rtnl, inetFd: withInet ? openInetSocket(c) : -1 };
  } catch (err) {
    rtnl.socket.close();
    throw err;
  }
}

function requestFailed(what: string, c: InProcessPodSideConfig, err: unknown): PodNetError {
  const errno = netlinkErrno(err);
  const hint =
    errno === 'EEXIST' ? ' (it already exists in the pod: was the netns configured by someone else?)'
    : errno === 'ENODEV' ? ' (the interface disappeared from the pod netns)'
    : errno === 'ENETUNREACH' ? ' (the gateway is not reachable through the pod interface)'
    : '';
  return new PodNetError('KERNEL_ERROR', `${what} in netns ${c.netnsPath} failed: ${err instanceof Error ? err.message : String(err)}${hint}`, { cause: err });
}

/** Wait for every request; throw the error of the first one (in send order) that failed. */
async function allInOrder(requests: Array<{ what: string; done: Promise<unknown> }>, c: InProcessPodSideConfig): Promise<void> {
  const results = await Promise.allSettled(requests.map((r) => r.done));
  results.forEach((r, i) => {
    if (r.status === 'rejected') throw requestFailed(requests[i]!.what, c, r.reason);
  });
}

/** Link up, address, default route via the gateway, and (optionally) tx checksum offload off. */
export async function configurePodSideInProcess(lib: Libc, c: InProcessPodSideConfig): Promise<void> {
  const ifname = validateIfname('ifname', c.ifname);
  const cidr = validateCidr('address', c.address);
  const local = ipv4Bytes(cidr.ip);
  const gateway = ipv4Bytes(validateIpv4('gateway', c.gateway));

  const { rtnl, inetFd } = runInNetns(lib, c.netnsFd, c.netnsPath, () => openPodSockets(lib, c.disableTxChecksum));
  try {
    if (inetFd >= 0) disableTxChecksumOffload(lib, inetFd, ifname, c.netnsPath); // before link up: no packet leaves with offload on

    let index: number | undefined;
    try {
      index = (await rtnl.getLink({ index: 0 }, { ifname }, { timeout: REQUEST_TIMEOUT_MS }))[0]?.data.index;
    } catch (err) {
      throw requestFailed(`looking up ${ifname}`, c, err);
    }
    if (!index) throw new PodNetError('KERNEL_ERROR', `interface ${ifname} was not found in netns ${c.netnsPath} right after it was created`);

    // Sent back to back on one socket: the kernel handles them in this order.
    const options = { flags: NLM_F_CREATE | NLM_F_EXCL, timeout: REQUEST_TIMEOUT_MS };
    await allInOrder([
      { what: `setting ${ifname} up`, done: rtnl.setLink({ index, flags: { up: true }, change: { up: true } }, {}, { timeout: REQUEST_TIMEOUT_MS }) },
      { what: `adding address ${c.address} to ${ifname}`, done: rtnl.newAddress({ family: AF_INET, prefixlen: cidr.prefixLength, index }, { local, address: local }, options) },
      {
        what: `adding default route via ${c.gateway} dev ${ifname}`,
        done: rtnl.newRoute(
          { family: AF_INET, dstLen: 0, table: RT_TABLE_MAIN, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST' },
          { gateway, oif: index },
          options,
        ),
      },
    ], c);
  } finally {
    rtnl.socket.close();
    closeFd(lib, inetFd);
  }
}
