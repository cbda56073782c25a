// rtnetlink adapter (npm `netlink`): links and addresses of the CURRENT process's network namespace.
// This shared socket never works inside a pod netns, except for creating a veth whose peer is born
// there (IFLA_NET_NS_FD in the peer's attributes); podns-inproc.ts opens its own pod-netns sockets.
import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { PodNetError } from './errors.js';
import { bytesToMac, macToBytes } from './validate.js';

const REQUEST_TIMEOUT_MS = 5000;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
// if_link.h / veth.h attribute numbers used to build the nested IFLA_LINKINFO by hand
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFINFOMSG_LENGTH = 16;
const AF_INET = 2;

let sharedSocket: RtNetlinkSocket | undefined;

let queue: Promise<unknown> = Promise.resolve();

/**
 * Run one request on the shared socket, one at a time: with many requests in flight the netlink
 * package's native receive callback can throw, which aborts the whole process (seen with 100
 * concurrent CNI DELs). Each request takes at most a few milliseconds of kernel time.
 */
function rtnl(): { [K in keyof RtNetlinkSocket]: RtNetlinkSocket[K] } {
  sharedSocket ??= createRtNetlink();
  const s = sharedSocket;
  return new Proxy(s, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const run = () => (v as (...a: unknown[]) => unknown).apply(target, args);
        const p = queue.then(run, run);
        queue = p.catch(() => undefined);
        return p;
      };
    },
  });
}

/** Close the shared rtnetlink socket (tests, shutdown). A later call opens a new one. */
export function closeRtnl(): void {
  sharedSocket?.socket.close();
  sharedSocket = undefined;
}

/** errno name ("EEXIST") of a rejected netlink request, or undefined for other errors. */
export function netlinkErrno(err: unknown): string | undefined {
  const m = err instanceof Error ? /^Request rejected: (\w+)/.exec(err.message) : null;
  return m ? m[1] : undefined;
}

/** One netlink attribute: u16 length, u16 type, payload, padded to 4 bytes. */
export function nla(type: number, payload: Buffer): Buffer {
  const length = 4 + payload.length;
  const out = Buffer.alloc(length + ((4 - (length % 4)) % 4));
  out.writeUInt16LE(length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

/** Parse a stream of netlink attributes into type -> payload (nested flag bit stripped). */
export function parseNlas(buf: Buffer): Map<number, Buffer> {
  const attrs = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const length = buf.readUInt16LE(off);
    if (length < 4 || off + length > buf.length) break;
    attrs.set(buf.readUInt16LE(off + 2) & 0x3fff, buf.subarray(off + 4, off + length));
    off += length + ((4 - (length % 4)) % 4);
  }
  return attrs;
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const cstring = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');

export interface VethPeer {
  ifname: string;
  mtu: number;
  mac: string;
  /** Open fd of the network namespace the peer is created in. */
  netnsFd: number;
}

/** IFLA_LINKINFO payload for a veth whose peer is created directly in another netns. */
export function encodeVethLinkInfo(peer: VethPeer): Buffer {
  const peerMsg = Buffer.concat([
    Buffer.alloc(IFINFOMSG_LENGTH), // struct ifinfomsg, all zero
    nla(IFLA_IFNAME, cstring(peer.ifname)),
    nla(IFLA_MTU, u32(peer.mtu)),
    nla(IFLA_ADDRESS, macToBytes(peer.mac)),
    nla(IFLA_NET_NS_FD, u32(peer.netnsFd)),
  ]);
  return Buffer.concat([nla(IFLA_INFO_KIND, cstring('veth')), nla(IFLA_INFO_DATA, nla(VETH_INFO_PEER, peerMsg))]);
}

export interface LinkState {
  index: number;
  name: string;
  mtu: number;
  mac: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** IFLA_INFO_KIND ("veth", "bridge"...), "" for devices without one. */
  kind: string;
}

function kernelError(what: string, err: unknown): PodNetError {
  return new PodNetError('KERNEL_ERROR', `${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/**
 * Create a veth pair: `hostIfname` (down) in the current netns, its peer in the netns given by fd.
 * Rejects with the raw netlink error so the caller can tell EEXIST / EINVAL apart.
 */
export async function createVethPair(host: { ifname: string; mtu: number; mac: string }, peer: VethPeer): Promise<void> {
  await rtnl().newLink(
    {},
    { ifname: host.ifname, mtu: host.mtu, address: macToBytes(host.mac), linkinfo: encodeVethLinkInfo(peer) },
    { flags: NLM_F_CREATE | NLM_F_EXCL, timeout: REQUEST_TIMEOUT_MS },
  );
}

export async function setLinkUp(ifname: string): Promise<void> {
  try {
    await rtnl().setLink({ index: 0, flags: { up: true }, change: { up: true } }, { ifname }, { timeout: REQUEST_TIMEOUT_MS });
  } catch (err) {
    throw kernelError(`setting ${ifname} up`, err);
  }
}

/** Delete a link by name. Returns false when it did not exist. */
export async function deleteLink(ifname: string): Promise<boolean> {
  try {
    await rtnl().delLink({ index: 0 }, { ifname }, { timeout: REQUEST_TIMEOUT_MS });
    return true;
  } catch (err) {
    if (netlinkErrno(err) === 'ENODEV') return false;
    throw kernelError(`deleting ${ifname}`, err);
  }
}

function toLinkState(msg: { data: { index?: number; flags?: { up?: true } }; attrs: { ifname?: string; mtu?: number; address?: Buffer; linkinfo?: Buffer } }): LinkState {
  const kind = msg.attrs.linkinfo ? parseNlas(msg.attrs.linkinfo).get(IFLA_INFO_KIND) : undefined;
  return {
    index: msg.data.index ?? 0,
    name: msg.attrs.ifname ?? '',
    mtu: msg.attrs.mtu ?? 0,
    mac: msg.attrs.address ? bytesToMac(msg.attrs.address) : '',
    up: msg.data.flags?.up === true,
    kind: kind ? kind.toString('utf8').replace(/\0+$/, '') : '',
  };
}

/** State of a link of the current netns, or undefined when it does not exist. */
export async function getLink(ifname: string): Promise<LinkState | undefined> {
  try {
    const msgs = await rtnl().getLink({ index: 0 }, { ifname }, { timeout: REQUEST_TIMEOUT_MS });
    return msgs[0] ? toLinkState(msgs[0]) : undefined;
  } catch (err) {
    if (netlinkErrno(err) === 'ENODEV') return undefined;
    throw kernelError(`reading link ${ifname}`, err);
  }
}

export async function listLinks(): Promise<LinkState[]> {
  try {
    return (await rtnl().getLinks(undefined, undefined, { timeout: REQUEST_TIMEOUT_MS })).map(toLinkState);
  } catch (err) {
    throw kernelError('listing links', err);
  }
}

/** IPv4 addresses ("a.b.c.d/len") of a link index, in kernel order. */
export async function getIpv4Addresses(index: number): Promise<string[]> {
  try {
    const msgs = await rtnl().getAddresses(undefined, undefined, { timeout: REQUEST_TIMEOUT_MS });
    return msgs
      .filter((m) => m.data.family === AF_INET && m.data.index === index)
      .map((m) => {
        const raw = m.attrs.local ?? m.attrs.address;
        return raw ? `${Array.from(raw).join('.')}/${m.data.prefixlen ?? 32}` : '';
      })
      .filter((a) => a.length > 0);
  } catch (err) {
    throw kernelError('listing addresses', err);
  }
}
