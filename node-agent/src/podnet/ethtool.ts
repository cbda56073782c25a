// ethtool through the SIOCETHTOOL ioctl (no `ethtool` spawn). The interface is looked up in the
// network namespace of the socket `fd`, so a socket opened inside the pod netns reaches the pod's
// interfaces even after the thread has switched back.
import { PodNetError } from './errors.js';
import type { Libc } from './netns-switch.js';
import { validateIfname } from './validate.js';

/** ETHTOOL_STXCSUM: set tx checksum offload (struct ethtool_value). Same effect as `ethtool -K IF tx off`. */
export const ETHTOOL_STXCSUM = 0x17;

export function disableTxChecksumOffload(c: Libc, fd: number, ifname: string, netnsPath: string): void {
  if (c.ethtoolValueIoctl(fd, validateIfname('ifname', ifname), ETHTOOL_STXCSUM, 0) !== 0) {
    const errno = c.lastError();
    throw new PodNetError(
      'KERNEL_ERROR',
      `disabling tx checksum offload on ${ifname} in netns ${netnsPath} failed (SIOCETHTOOL ETHTOOL_STXCSUM: ${errno})` +
        (errno === 'ENODEV' ? ': the interface is gone' : errno === 'EPERM' ? ': the agent needs CAP_NET_ADMIN' : ''),
    );
  }
}
