import type { AgentConfig } from './types.js';

/** Every default; nodeName has none (it must come from the file, NODE_NAME or --node-name). */
export const DEFAULT_CONFIG: Readonly<Omit<AgentConfig, 'nodeName'>> = Object.freeze({
  kubeconfig: '',
  clusterCIDR: '10.244.0.0/16',
  serviceCIDR: '10.96.0.0/12',
  bridge: 'br-int',
  gatewayInterface: 'loom-gw0',
  tunnelInterface: 'loom-tun0',
  datapathType: 'auto',
  ovsRunDir: '/var/run/openvswitch',
  tunnelType: 'vxlan',
  tunnelPort: 4789,
  tunnelVNI: 1,
  mtu: 0,
  cniSocket: '/var/run/loom/cni.sock',
  stateDir: '/var/lib/loom',
  cniConfDir: '/etc/cni/net.d',
  cniConfFile: '10-loom.conflist',
  installCniConfig: true,
  cniBinDir: '/opt/cni/bin',
  logLevel: 'info',
  metricsPort: 9469,
  metricsBindAddress: '0.0.0.0',
  auditLogDir: '/var/log/loom',
});

/** Bytes of VXLAN encapsulation (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14). */
export const VXLAN_OVERHEAD = 50;
