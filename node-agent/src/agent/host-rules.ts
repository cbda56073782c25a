// iptables rules Loom owns on the node, in chains of its own that are replaced atomically with
// iptables-restore; the jumps from the built-in chains are added once and removed on uninstall.
//  - nat LOOM-POSTROUTING: pod traffic leaving the cluster CIDR is masqueraded to the node IP.
//  - raw LOOM-PREROUTING (userspace datapath only): the NIC moved into br-phy is still a live
//    kernel interface; packets arriving on it reach OVS through its packet socket and must not be
//    processed a second time by the host stack (that answers twice: duplicate replies).
import { execa } from 'execa';
import { parseCidr } from '../util/ipv4.js';
import { logger } from '../util/log.js';

const log = logger('host-rules');
export const MASQ_CHAIN = 'LOOM-POSTROUTING';
export const UPLINK_CHAIN = 'LOOM-PREROUTING';
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

interface Jump {
  table: 'nat' | 'raw';
  rule: string[];
}
const JUMPS: Jump[] = [
  { table: 'nat', rule: ['POSTROUTING', '-m', 'comment', '--comment', 'loom: masquerade pod traffic leaving the cluster', '-j', MASQ_CHAIN] },
  { table: 'raw', rule: ['PREROUTING', '-m', 'comment', '--comment', 'loom: uplink packets belong to OVS', '-j', UPLINK_CHAIN] },
];
const iptables = (table: string, op: string, rule: string[]) => execa('iptables', ['-w', '5', '-t', table, op, ...rule], { reject: false });

export interface HostRulesOptions {
  clusterCidr: string;
  /** NIC enslaved to br-phy on the userspace datapath */
  uplinkNic?: string;
}

export function hostRules(o: HostRulesOptions): string {
  if (!parseCidr(o.clusterCidr)) throw new Error(`invalid cluster CIDR ${o.clusterCidr}`);
  if (o.uplinkNic !== undefined && !IFNAME.test(o.uplinkNic)) throw new Error(`invalid uplink interface name ${o.uplinkNic}`);
  const c = o.clusterCidr;
  return [
    '*nat',
    `:${MASQ_CHAIN} - [0:0]`,
    `-A ${MASQ_CHAIN} -s ${c} -d ${c} -j RETURN`,
    `-A ${MASQ_CHAIN} -s ${c} -d 224.0.0.0/4 -j RETURN`,
    `-A ${MASQ_CHAIN} -s ${c} -j MASQUERADE`,
    'COMMIT',
    '*raw',
    `:${UPLINK_CHAIN} - [0:0]`,
    ...(o.uplinkNic ? [`-A ${UPLINK_CHAIN} -i ${o.uplinkNic} -j DROP`] : []),
    'COMMIT',
    '',
  ].join('\n');
}

export async function ensureHostRules(o: HostRulesOptions): Promise<void> {
  await execa('iptables-restore', ['--noflush', '-w', '5'], { input: hostRules(o) });
  for (const j of JUMPS) {
    if ((await iptables(j.table, '-C', j.rule)).exitCode !== 0) {
      const r = await iptables(j.table, '-A', j.rule);
      if (r.exitCode !== 0) throw new Error(`cannot add the ${j.rule[0]} jump to ${j.rule.at(-1)}: ${r.stderr}`);
    }
  }
  log.info('host iptables rules in place', { clusterCidr: o.clusterCidr, uplinkNic: o.uplinkNic });
}

export async function removeHostRules(): Promise<void> {
  for (const j of JUMPS) {
    while ((await iptables(j.table, '-D', j.rule)).exitCode === 0) {
      /* remove every copy of the jump */
    }
    const chain = j.rule.at(-1)!;
    await iptables(j.table, '-F', [chain]);
    await iptables(j.table, '-X', [chain]);
  }
}
