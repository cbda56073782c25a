// `loom-agent uninstall`: removes what Loom installed on the node, for `helm uninstall` cleanup
// (run by a Job or by hand once the DaemonSet is gone). Pods still on the node lose networking.
// Idempotent: every step tolerates what is already gone.
import { execa } from 'execa';
import { type AgentConfig, cniConfPath, ovsdbRemote } from '../config/index.js';
import { OvsdbClient } from '../ovs/ovsdb.js';
import { errorMessage, logger } from '../util/log.js';
import { removeCniConf } from './cni-conf.js';
import { removeHostRules } from './host-rules.js';
import { PHYSICAL_BRIDGE } from './underlay.js';

const log = logger('uninstall');

export async function uninstall(c: AgentConfig): Promise<void> {
  await removeCniConf(cniConfPath(c));
  await removeHostRules();
  let ovsdb: OvsdbClient | undefined;
  try {
    ovsdb = await OvsdbClient.connect(ovsdbRemote(c));
    // Give the node IP back to the NIC before br-phy disappears.
    if (await ovsdb.bridgeExists(PHYSICAL_BRIDGE)) {
      const ids = await ovsdb.getBridgeExternalIds(PHYSICAL_BRIDGE);
      const nic = ids['loom-nic'];
      const addr = ids['loom-node-addr'];
      const routes = JSON.parse(ids['loom-node-routes'] ?? '[]') as Array<{ dst: string; via?: string }>;
      await ovsdb.deleteBridge(PHYSICAL_BRIDGE);
      if (nic && addr && /^[0-9.]+\/\d+$/.test(addr)) {
        await execa('ip', ['-batch', '-'], {
          input: [
            `addr replace ${addr} dev ${nic}`,
            `link set ${nic} up`,
            ...routes.filter((r) => /^[0-9a-z./]+$/.test(r.dst) && (!r.via || /^[0-9.]+$/.test(r.via))).map((r) => `route replace ${r.dst}${r.via ? ` via ${r.via}` : ''} dev ${nic}`),
          ].join('\n'),
          reject: false,
        });
      }
    }
    await ovsdb.deleteBridge(c.bridge);
    await ovsdb.setFlowRestoreWait(false);
  } catch (e) {
    log.warn('OVS part of the uninstall did not complete', { error: errorMessage(e) });
    throw e;
  } finally {
    ovsdb?.close();
  }
  log.info('Loom removed from this node', { cniConf: cniConfPath(c), bridge: c.bridge });
}
