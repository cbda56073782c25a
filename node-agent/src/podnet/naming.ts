// Deterministic host-side veth names, stable across agent restarts.
import { createHash } from 'node:crypto';
import { validateContainerId, validateIfname } from './validate.js';

export const HOST_VETH_PREFIX = 'lm';

/** "lm" + 13 hex chars of sha256(containerId + "/" + ifname): 15 characters, the Linux maximum. */
export function hostVethName(containerId: string, ifname: string): string {
  validateContainerId('containerId', containerId);
  validateIfname('ifname', ifname);
  const hash = createHash('sha256').update(`${containerId}/${ifname}`).digest('hex');
  return HOST_VETH_PREFIX + hash.slice(0, 15 - HOST_VETH_PREFIX.length);
}
