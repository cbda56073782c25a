export type { AgentConfig, DatapathType, LogLevel, TunnelType } from './types.js';
export { DATAPATH_TYPES, LOG_LEVELS, TUNNEL_TYPES, STANDALONE_KUBECONFIG } from './types.js';
export { DEFAULT_CONFIG, VXLAN_OVERHEAD } from './defaults.js';
export { ConfigError, HelpRequested } from './errors.js';
export { loadConfig, type LoadConfigOptions } from './load.js';
export { helpText } from './help.js';
export { FIELDS, envName, flagName, type FieldSpec, type FieldName } from './fields.js';
export { isStandalone, ovsdbRemote, bridgeMgmtSocket, vswitchdCtlSocket, cniConfPath, podMtu } from './derived.js';
export { parseIpv4Cidr, cidrContains, cidrsOverlap, isInterfaceName, isIpv4Address, type Ipv4Cidr } from './validators.js';
