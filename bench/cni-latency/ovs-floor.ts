// What ovs-vswitchd itself needs to attach one more port, on the same OVS instance as the Loom
// node: a veth added to a scratch bridge of the same (netdev) datapath with the same native OVSDB
// transaction the agent uses (insert + wait for the OpenFlow port). The userspace datapath
// reconfigures every port on each change, so this grows with the pods on the node; comparing it at
// ~10 and ~200 pods separates OVS's growth from the agent's.
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { OvsdbClient } from '../../node-agent/src/ovs/ovsdb.js';

const BRIDGE = 'br-floor';

export interface OvsFloor {
  /** Wall ms of `samples` port attaches (one at a time). */
  sample(samples: number): Promise<number[]>;
  close(): Promise<void>;
}

export async function openOvsFloor(nodeNetns: string, dbSock: string, datapathType: 'netdev' | 'system'): Promise<OvsFloor> {
  if (!/^loomt-[a-z0-9-]+$/.test(nodeNetns)) throw new Error(`node netns "${nodeNetns}" is not a loomt- namespace`);
  const ovsdb = await OvsdbClient.connect(dbSock);
  await ovsdb.ensureBridge(BRIDGE, { datapathType, failMode: 'secure' });
  const ip = (args: string[]) => execa('ip', ['netns', 'exec', nodeNetns, 'ip', ...args]);
  let n = 0;
  return {
    async sample(samples) {
      const out: number[] = [];
      for (let k = 0; k < samples; k++) {
        const name = `lmfloor${n++}`;
        await ip(['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
        await ip(['link', 'set', name, 'up']);
        try {
          const start = performance.now();
          await ovsdb.addPort(BRIDGE, name);
          out.push(performance.now() - start);
          await ovsdb.deletePort(BRIDGE, name);
        } finally {
          await ip(['link', 'del', name]).catch(() => undefined);
        }
      }
      return out;
    },
    async close() {
      await ovsdb.deleteBridge(BRIDGE).catch(() => undefined);
      ovsdb.close();
    },
  };
}
