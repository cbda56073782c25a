// Typed errors of the pod interface plumbing. The CNI server maps `code` to a CNI error code.

export type PodNetErrorCode =
  /** A value (ifname, MAC, CIDR, MTU, path...) is malformed; nothing was touched. */
  | 'INVALID_ARGUMENT'
  /** The pod netns path does not exist. */
  | 'NETNS_NOT_FOUND'
  /** The path exists but is not a network namespace. */
  | 'NETNS_INVALID'
  /** The pod interface (or the host veth name) already exists: CNI ADD must fail. */
  | 'ALREADY_EXISTS'
  /** A kernel request (rtnetlink, /proc/sys, setns, SIOCETHTOOL) failed. */
  | 'KERNEL_ERROR'
  /** A spawned command (ip, ethtool, nsenter) failed: spawn fallback and CHECK only. */
  | 'COMMAND_FAILED';

export class PodNetError extends Error {
  override readonly name = 'PodNetError';
  constructor(
    readonly code: PodNetErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isPodNetError(err: unknown, code?: PodNetErrorCode): err is PodNetError {
  return err instanceof PodNetError && (code === undefined || err.code === code);
}
