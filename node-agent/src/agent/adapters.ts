// Glue from the agent core's ports (ports.ts) to the real adapters in ovs/ and podnet/.
import type { OpenFlowClient } from '../ovs/ofctl.js';
import type { NativeOpenFlowClient } from '../ovs/openflow/client.js';
import type { OvsdbClient } from '../ovs/ovsdb.js';
import {
  checkPodInterface,
  createPodInterface,
  deletePodInterface,
  hostInterfaceExists,
  hostVethName,
  listHostVeths,
} from '../podnet/index.js';
import type { BridgePorts, FlowTable, PodInterfaces } from './ports.js';

export function bridgePorts(ovsdb: OvsdbClient, bridge: string): BridgePorts {
  return {
    addPort: (name, externalIds, ofportRequest) => ovsdb.addPort(bridge, name, ofportRequest === undefined ? { externalIds } : { externalIds, ofportRequest }),
    deletePort: (name) => ovsdb.deletePort(bridge, name),
    listPorts: async () =>
      (await ovsdb.listPorts(bridge)).map((p) => ({ name: p.name, ofport: p.ofport ?? -1, externalIds: p.externalIds })),
  };
}

/** Bundles through the persistent native OpenFlow connection, dumps through ovs-ofctl. */
export function flowTable(openflow: NativeOpenFlowClient, ofctl: OpenFlowClient): FlowTable {
  return {
    apply: (ops) => openflow.applyBundle(ops),
    dump: () => ofctl.dumpFlows(),
  };
}

export const podInterfaces: PodInterfaces = {
  hostVethName,
  create: async (spec, paired) => {
    const r = await createPodInterface(spec, paired ? { paired } : {});
    return { hostMac: r.hostMac, podMac: r.podMac };
  },
  delete: (hostIfname) => deletePodInterface({ hostIfname }),
  check: (spec) => checkPodInterface(spec),
  hostVethExists: (name) => hostInterfaceExists(name),
  listHostVeths: () => listHostVeths(),
};
