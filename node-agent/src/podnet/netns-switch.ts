// Run a few SYNCHRONOUS steps with the main thread inside another network namespace (libc setns
// through the koffi FFI), then switch back before any other JavaScript can run. Sockets created
// in between stay in that namespace for their whole life, so the actual work happens afterwards,
// asynchronously, on those sockets. Without koffi (native part missing), libc() returns undefined
// and callers fall back to spawning `nsenter`.
import { closeSync, openSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PodNetError } from './errors.js';

type Koffi = typeof import('koffi');

const CLONE_NEWNET = 0x40000000;
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SIOCETHTOOL = 0x8946;
const IFNAMSIZ = 16;
const THREAD_NETNS = '/proc/thread-self/ns/net';

/** The few libc calls this module needs, bound through koffi. */
export interface Libc {
  setns(fd: number, nstype: number): number;
  socket(domain: number, type: number, protocol: number): number;
  close(fd: number): number;
  /** ioctl(fd, SIOCETHTOOL, &ifreq) with ifr_data pointing at a struct ethtool_value. */
  ethtoolValueIoctl(fd: number, ifname: string, cmd: number, data: number): number;
  /** errno name of the last failed call ("EPERM"), or the number as text. */
  lastError(): string;
}

let loaded: { libc?: Libc; error?: string } | undefined;

function bindLibc(koffi: Koffi): Libc {
  const lib = koffi.load('libc.so.6');
  const setns = lib.func('int setns(int fd, int nstype)');
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const close = lib.func('int close(int fd)');
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)');
  // Anonymous types: koffi's type names are process-wide, and this module may be loaded twice.
  const EthtoolValue = koffi.struct({ cmd: 'uint32_t', data: 'uint32_t' });
  const IfreqEthtool = koffi.struct({
    ifr_name: koffi.array('char', IFNAMSIZ, 'String'),
    ifr_data: koffi.pointer(EthtoolValue),
    ifr_pad: koffi.array('uint8_t', 16),
  });
  if (koffi.sizeof(IfreqEthtool) !== 40) throw new Error(`struct ifreq has size ${koffi.sizeof(IfreqEthtool)}, expected 40 (x86_64/arm64 only)`);
  const errnoNames = new Map(Object.entries(koffi.os.errno).map(([name, n]) => [n, name]));
  return {
    setns: (fd, nstype) => setns(fd, nstype) as number,
    socket: (domain, type, protocol) => socket(domain, type, protocol) as number,
    close: (fd) => close(fd) as number,
    ethtoolValueIoctl: (fd, ifname, cmd, data) =>
      ioctl(fd, SIOCETHTOOL, koffi.pointer(IfreqEthtool), { ifr_name: ifname, ifr_data: { cmd, data }, ifr_pad: new Array(16).fill(0) }) as number,
    lastError: () => {
      const n = koffi.errno();
      return errnoNames.get(n) ?? `errno ${n}`;
    },
  };
}

/**
 * The libc bindings, loaded once; undefined when koffi cannot load (see libcLoadError()) or when
 * LOOM_PODNET_FFI=off (forces the spawn fallback, for tests and as an escape hatch).
 */
export function libc(): Libc | undefined {
  if (!loaded) {
    if (process.env.LOOM_PODNET_FFI === 'off') loaded = { error: 'disabled by LOOM_PODNET_FFI=off' };
    else {
      try {
        const koffi = createRequire(import.meta.url)('koffi') as Koffi;
        loaded = { libc: bindLibc(koffi) };
      } catch (err) {
        loaded = { error: err instanceof Error ? err.message : String(err) };
      }
    }
  }
  return loaded.libc;
}

/** Why libc() returned undefined, or undefined when it loaded. */
export function libcLoadError(): string | undefined {
  libc();
  return loaded?.error;
}

/** Inode of the calling thread's network namespace (to compare with `stat(netnsPath).ino`). */
export function threadNetnsInode(): number {
  return statSync(THREAD_NETNS).ino;
}

/**
 * Call `fn` with the main thread in the netns of `netnsFd` and switch back before returning.
 * Everything happens within one JS tick: `fn` must be synchronous (no await). If switching back
 * fails the process aborts: continuing in the wrong netns would configure the wrong interfaces.
 */
export function runInNetns<T>(c: Libc, netnsFd: number, netnsPath: string, fn: () => T): T {
  const originalFd = openSync(THREAD_NETNS, 'r');
  try {
    if (c.setns(netnsFd, CLONE_NEWNET) !== 0) {
      const errno = c.lastError();
      throw new PodNetError(errno === 'EINVAL' ? 'NETNS_INVALID' : 'KERNEL_ERROR', `cannot enter network namespace ${netnsPath}: setns failed with ${errno}`);
    }
    try {
      return fn();
    } finally {
      if (c.setns(originalFd, CLONE_NEWNET) !== 0) {
        process.stderr.write(`loom podnet: FATAL: cannot switch the main thread back to its network namespace (setns: ${c.lastError()}); aborting\n`);
        process.abort();
      }
    }
  } finally {
    closeSync(originalFd);
  }
}

/** A new AF_INET datagram socket (for ioctls) in the calling thread's netns. */
export function openInetSocket(c: Libc): number {
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new PodNetError('KERNEL_ERROR', `cannot create an AF_INET socket: ${c.lastError()}`);
  return fd;
}

export function closeFd(c: Libc, fd: number): void {
  if (fd >= 0) c.close(fd);
}
