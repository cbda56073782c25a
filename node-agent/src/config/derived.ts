// Values computed from the config, so every module derives socket paths the same way.
import { join } from 'node:path';
import { VXLAN_OVERHEAD } from './defaults.js';
import { STANDALONE_KUBECONFIG, type AgentConfig } from './types.js';

/** True when the agent runs without Kubernetes (kubeconfig "none"). */
export function isStandalone(config: AgentConfig): boolean {
  return config.kubeconfig === STANDALONE_KUBECONFIG;
}

/** OVSDB remote for ovs-vsctl --db=: the override, else unix:<ovsRunDir>/db.sock. */
export function ovsdbRemote(config: AgentConfig): string {
  return config.ovsdbSocket ?? `unix:${join(config.ovsRunDir, 'db.sock')}`;
}

/** OpenFlow management socket of a bridge: <ovsRunDir>/<bridge>.mgmt (for ovs-ofctl: prefix "unix:"). */
export function bridgeMgmtSocket(config: AgentConfig, bridge: string = config.bridge): string {
  return join(config.ovsRunDir, `${bridge}.mgmt`);
}

/** ovs-vswitchd control socket for ovs-appctl -t (the pidfile-based name is also accepted by ovs-appctl). */
export function vswitchdCtlSocket(config: AgentConfig): string {
  return join(config.ovsRunDir, 'ovs-vswitchd.ctl');
}

export function cniConfPath(config: AgentConfig): string {
  return join(config.cniConfDir, config.cniConfFile);
}

/** Pod MTU: the configured one, else transport MTU - VXLAN overhead. */
export function podMtu(config: AgentConfig, transportMtu: number): number {
  return config.mtu !== 0 ? config.mtu : transportMtu - VXLAN_OVERHEAD;
}
