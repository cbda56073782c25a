// Host-side veth sysctls, written directly to /proc/sys (no spawn). /proc/sys/net belongs to the
// network namespace of the writing process, so this configures the agent's (node's) netns.
import { readFileSync, writeFileSync } from 'node:fs';
import { PodNetError } from './errors.js';
import { validateIfname } from './validate.js';

const PROC_SYS_NET = '/proc/sys/net';

/**
 * OVS userspace pitfall 2: the host veth must stay a dumb port. arp_ignore=8 (never answer ARP),
 * forwarding=0 (never route pod traffic past OVS), IPv6 off (no link-local address, no DAD/RS).
 * Call before the link is set up.
 */
export const HOST_VETH_SYSCTLS: ReadonlyArray<{ family: 'ipv4' | 'ipv6'; key: string; value: string }> = [
  { family: 'ipv4', key: 'arp_ignore', value: '8' },
  { family: 'ipv4', key: 'forwarding', value: '0' },
  { family: 'ipv6', key: 'disable_ipv6', value: '1' },
];

export function sysctlPath(family: 'ipv4' | 'ipv6', ifname: string, key: string): string {
  return `${PROC_SYS_NET}/${family}/conf/${validateIfname('ifname', ifname)}/${key}`;
}

export function writeHostVethSysctls(ifname: string): void {
  for (const { family, key, value } of HOST_VETH_SYSCTLS) {
    const path = sysctlPath(family, ifname, key);
    try {
      writeFileSync(path, value);
    } catch (err) {
      // A kernel without IPv6 has no /proc/sys/net/ipv6: nothing to disable then.
      if (family === 'ipv6' && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new PodNetError('KERNEL_ERROR', `cannot write ${value} to ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** Current value of a per-interface sysctl, or undefined when the file does not exist. */
export function readInterfaceSysctl(family: 'ipv4' | 'ipv6', ifname: string, key: string): string | undefined {
  try {
    return readFileSync(sysctlPath(family, ifname, key), 'utf8').trim();
  } catch {
    return undefined;
  }
}
