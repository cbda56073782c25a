// The node's own part of the datapath: br-int, the gateway port loom-gw0 with the first IP of the
// podCIDR, and the host sysctls the pipeline needs. Idempotent: adopts what already exists.
import { readFile, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import type { OvsdbClient, DatapathType } from '../ovs/ovsdb.js';
import type { NodeNetwork } from '../pipeline/pipeline.js';
import { formatIpv4, gatewayOf, isMac, parseCidr } from '../util/ipv4.js';
import { logger } from '../util/log.js';

const log = logger('datapath');

export const GATEWAY_OFPORT = 2;
export const FLOW_ROUND_KEY = 'loom-flow-round';

export interface NodeDatapathOptions {
  bridge: string;
  gatewayInterface: string;
  podCidr: string;
  datapathType: 'auto' | DatapathType;
}

export interface NodeDatapathState {
  network: NodeNetwork;
  datapathType: DatapathType;
  /** cookie round of the flows installed by the previous agent run (0 when none) */
  previousRound: number;
}

async function writeSysctl(path: string, value: string): Promise<void> {
  await writeFile(`/proc/sys/${path}`, value);
}

export async function setupNodeDatapath(ovsdb: OvsdbClient, o: NodeDatapathOptions): Promise<NodeDatapathState> {
  const cidr = parseCidr(o.podCidr);
  if (!cidr) throw new Error(`pod CIDR ${o.podCidr} is invalid`);
  await ovsdb.ensureInitialized();
  const datapathType = o.datapathType === 'auto' ? await ovsdb.detectDatapathType() : o.datapathType;
  await ovsdb.ensureBridge(o.bridge, {
    datapathType,
    failMode: 'secure',
    protocols: ['OpenFlow10', 'OpenFlow13', 'OpenFlow15'],
    externalIds: { 'loom-managed': 'true' },
    otherConfig: { 'disable-in-band': 'true' },
  });
  const gatewayOfport = await ovsdb.ensureInternalPort(o.bridge, o.gatewayInterface, {
    ofportRequest: GATEWAY_OFPORT,
    externalIds: { 'loom-role': 'gateway' },
  });
  const gatewayIp = formatIpv4(gatewayOf(cidr));
  // Address and link state of the gateway (one spawn at start-up, not on the CNI path).
  await execa('ip', ['-batch', '-'], {
    input: [
      `addr replace ${gatewayIp}/${cidr.prefix} dev ${o.gatewayInterface}`,
      `link set ${o.gatewayInterface} up`,
    ].join('\n'),
  });
  await writeSysctl('net/ipv4/ip_forward', '1');
  await writeSysctl(`net/ipv6/conf/${o.gatewayInterface}/disable_ipv6`, '1').catch(() => undefined);
  const gatewayMac = (await readFile(`/sys/class/net/${o.gatewayInterface}/address`, 'utf8')).trim();
  if (!isMac(gatewayMac)) throw new Error(`cannot read the MAC of ${o.gatewayInterface}: got ${JSON.stringify(gatewayMac)}`);
  const ids = await ovsdb.getBridgeExternalIds(o.bridge);
  const previousRound = Number(ids[FLOW_ROUND_KEY] ?? 0) & 0xff;
  log.info('node datapath ready', { bridge: o.bridge, datapathType, gateway: o.gatewayInterface, gatewayIp, gatewayMac, gatewayOfport, previousRound });
  return {
    network: { gatewayOfport, gatewayMac, gatewayIp, podCidr: o.podCidr },
    datapathType,
    previousRound,
  };
}
