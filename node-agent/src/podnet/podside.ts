// Picks how the pod end is configured: in process (setns + sockets, ~1 ms) when koffi loads,
// otherwise by spawning nsenter (~25-35 ms per spawn here), with one warning per process.
import { logger } from '../util/log.js';
import { libc, libcLoadError } from './netns-switch.js';
import { configurePodSide } from './podns.js';
import { configurePodSideInProcess, type InProcessPodSideConfig } from './podns-inproc.js';

const counts = { inProcess: 0, spawnFallback: 0 };
let warned = false;

/** How many pod-side setups used each path in this process (the fast path should be the only one). */
export function podSideSetupCounts(): { inProcess: number; spawnFallback: number } {
  return { ...counts };
}

function warnFallbackOnce(): void {
  if (warned) return;
  warned = true;
  logger('podnet').warn('configuring pod interfaces by spawning nsenter/ip/ethtool (slow, ~30 ms per pod): the koffi FFI is unavailable', {
    reason: libcLoadError(),
    fix: 'install the koffi package with its prebuilt binaries next to the agent, and unset LOOM_PODNET_FFI',
  });
}

/**
 * Load the FFI now (call at agent start-up: loading koffi costs 20-60 ms here, which would
 * otherwise land on the first CNI ADD). Logs the fallback warning at once when it is unavailable.
 */
export function preparePodSide(): { inProcess: boolean; reason?: string } {
  if (libc()) return { inProcess: true };
  warnFallbackOnce();
  return { inProcess: false, reason: libcLoadError() };
}

/** Configure the pod end of a new veth: link up, address, default route, optional tx checksum off. */
export async function setUpPodSide(c: InProcessPodSideConfig): Promise<void> {
  const lib = libc();
  if (lib) {
    counts.inProcess++;
    return configurePodSideInProcess(lib, c);
  }
  warnFallbackOnce();
  counts.spawnFallback++;
  return configurePodSide(c);
}
