// The baseline: Debian's `bridge` + `host-local` plugins (containernetworking-plugins) in their own
// loomt- node namespace, with the IPAM state in a temporary directory (never /var/lib/cni).
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, deleteNetns, TEST_DIR_PREFIX } from '../../node-agent/test/support/netns.js';
import { pluginInNetns, type Plugin } from './plugin-exec.js';

export const DEBIAN_CNI_DIR = '/usr/lib/cni';

export interface BridgeNode {
  netns: string;
  plugin: Plugin;
  config: Record<string, unknown>;
  destroy(): Promise<void>;
}

export async function startBridgeNode(netns: string, subnet: string): Promise<BridgeNode> {
  for (const p of ['bridge', 'host-local']) {
    if (!existsSync(join(DEBIAN_CNI_DIR, p))) throw new Error(`${DEBIAN_CNI_DIR}/${p} is missing: apt-get install containernetworking-plugins`);
  }
  const dir = await mkdtemp(join(tmpdir(), `${TEST_DIR_PREFIX}bench-bridge-`));
  await createNetns(netns);
  const config = {
    cniVersion: '1.0.0',
    name: 'bench-bridge',
    type: 'bridge',
    bridge: 'cni0',
    isGateway: true,
    ipMasq: false,
    ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: join(dir, 'ipam') },
  };
  return {
    netns,
    plugin: pluginInNetns('bridge', netns, join(DEBIAN_CNI_DIR, 'bridge'), DEBIAN_CNI_DIR),
    config,
    async destroy() {
      await deleteNetns(netns);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
