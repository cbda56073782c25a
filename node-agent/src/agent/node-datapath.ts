// The node's own part of the datapath: br-int, the gateway port loom-gw0 with the first IP of the
// podCIDR, and the host sysctls the pipeline needs. Idempotent: adopts what already exists.
import { readFile, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import type { OvsdbClient, DatapathType } from '../ovs/ovsdb.js';
import type { NodeNetwork } from '../pipeline/pipeline.js';
import { formatIpv4, gatewayOf, parseCidr } from '../util/ipv4.js';
import { logger } from '../util/log.js';

const log = logger('datapath');

export const GATEWAY_OFPORT = 2;

export interface NodeDatapathOptions {
  bridge: string;
  gatewayInterface: string;
  podCidr: string;
  datapathType: 'auto' | DatapathType;
}

export interface NodeDatapathState {
  network: NodeNetwork;
  datapathType: DatapathType;
}

/** Locally administered unicast MAC 0a:58:<IPv4 bytes>. */
export function macForIp(ip: string): string {
  return ['0a', '58', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

async function waitForMac(dev: string, mac: string): Promise<void> {
  let seen = '';
  for (let i = 0; i < 50; i++) {
    seen = (await readFile(`/sys/class/net/${dev}/address`, 'utf8').catch(() => '')).trim();
    if (seen === mac) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${dev} did not take the MAC ${mac} (it has ${JSON.stringify(seen)}); check the ovs-vswitchd log`);
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
  // A fixed gateway MAC (0a:58 + its IP, like pod MACs): OVS re-applies the Interface `mac` column
  // whenever it recreates the port (a restarted userspace vswitchd recreates its tap), so pods'
  // ARP caches and the flows stay valid.
  const gatewayMac = macForIp(gatewayIp);
  await ovsdb.transact(`pinning the MAC of ${o.gatewayInterface}`, [
    { op: 'update', table: 'Interface', where: [['name', '==', o.gatewayInterface]], row: { mac: gatewayMac } },
  ]);
  // Address and link state of the gateway (at start-up, not on the CNI path), only when missing.
  const gw = JSON.parse((await execa('ip', ['-j', 'addr', 'show', 'dev', o.gatewayInterface])).stdout || '[]') as Array<{ flags?: string[]; addr_info?: Array<{ local: string; prefixlen: number }> }>;
  const hasAddr = gw[0]?.addr_info?.some((a) => a.local === gatewayIp && a.prefixlen === cidr.prefix);
  if (!hasAddr || !gw[0]?.flags?.includes('UP')) {
    await execa('ip', ['-batch', '-'], {
      input: [`addr replace ${gatewayIp}/${cidr.prefix} dev ${o.gatewayInterface}`, `link set ${o.gatewayInterface} up`].join('\n'),
    });
  }
  await writeSysctl('net/ipv4/ip_forward', '1');
  await writeSysctl(`net/ipv6/conf/${o.gatewayInterface}/disable_ipv6`, '1').catch(() => undefined);
  await waitForMac(o.gatewayInterface, gatewayMac);
  log.info('node datapath ready', { bridge: o.bridge, datapathType, gateway: o.gatewayInterface, gatewayIp, gatewayMac, gatewayOfport });
  return {
    network: { gatewayOfport, gatewayMac, gatewayIp, podCidr: o.podCidr },
    datapathType,
  };
}
