// The node agent's configuration: one flat object, camelCase field names, the same names in the
// config file (YAML or JSON), in LOOM_<SCREAMING_SNAKE> env variables and in --kebab-case flags.

export const DATAPATH_TYPES = ['auto', 'system', 'netdev'] as const;
/** OVS datapath: `system` = kernel module, `netdev` = userspace, `auto` = system if the module is present. */
export type DatapathType = (typeof DATAPATH_TYPES)[number];

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const TUNNEL_TYPES = ['vxlan'] as const;
export type TunnelType = (typeof TUNNEL_TYPES)[number];

/** kubeconfig value that means "no Kubernetes at all" (standalone mode, used by tests). */
export const STANDALONE_KUBECONFIG = 'none';

export interface AgentConfig {
  /** Name of this Kubernetes Node (required; env NODE_NAME). */
  nodeName: string;
  /** Path of a kubeconfig file; "" = in-cluster service account; "none" = standalone (no Kubernetes). */
  kubeconfig: string;
  /** Pod CIDR of this node; overrides Node.spec.podCIDRs. Required in standalone mode. */
  podCIDR?: string;
  clusterCIDR: string;
  serviceCIDR: string;

  bridge: string;
  gatewayInterface: string;
  tunnelInterface: string;
  datapathType: DatapathType;
  /** Directory of the OVS sockets: db.sock and <bridge>.mgmt. */
  ovsRunDir: string;
  /** OVSDB remote (unix:/path or tcp:IP:PORT); default unix:<ovsRunDir>/db.sock. */
  ovsdbSocket?: string;

  tunnelType: TunnelType;
  tunnelPort: number;
  tunnelVNI: number;
  /** Interface carrying tunnel traffic; default: the interface of the default route. */
  transportInterface?: string;
  /** Node IP used as tunnel endpoint; default: the Node's InternalIP / the transport interface's IP. */
  transportIP?: string;
  /** Pod MTU; 0 = auto (transport MTU - 50 for VXLAN). */
  mtu: number;

  cniSocket: string;
  stateDir: string;
  cniConfDir: string;
  cniConfFile: string;
  installCniConfig: boolean;
  cniBinDir: string;

  logLevel: LogLevel;
  /** Port of /metrics, /healthz, /readyz; 0 disables the endpoint. */
  metricsPort: number;
  metricsBindAddress: string;
  auditLogDir: string;
}
