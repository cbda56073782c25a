// One row per config field: its kind, what it means and what values are accepted. The loader, the
// validator and --help are all driven by this table.
import { DEFAULT_CONFIG } from './defaults.js';
import {
  DATAPATH_TYPES, LOG_LEVELS, STANDALONE_KUBECONFIG, TUNNEL_TYPES, type AgentConfig,
} from './types.js';
import {
  isAbsolutePath, isDnsSubdomain, isFileName, isInterfaceName, isIpv4Address, isOvsdbRemote, parseIpv4Cidr,
} from './validators.js';

type KeysOfType<T> = { [K in keyof AgentConfig]-?: Exclude<AgentConfig[K], undefined> extends T ? K : never }[keyof AgentConfig];
export type StringFieldName = KeysOfType<string>;
export type IntegerFieldName = KeysOfType<number>;
export type BooleanFieldName = KeysOfType<boolean>;
export type FieldName = keyof AgentConfig;

interface FieldBase {
  description: string;
  /** Human-readable description of acceptable values, used in error messages. */
  expected: string;
}
export interface StringField extends FieldBase {
  name: StringFieldName;
  kind: 'string';
  /** Optional fields are undefined when unset or set to "". */
  optional: boolean;
  check: (value: string) => boolean;
}
export interface IntegerField extends FieldBase {
  name: IntegerFieldName;
  kind: 'integer';
  check: (value: number) => boolean;
}
export interface BooleanField extends FieldBase {
  name: BooleanFieldName;
  kind: 'boolean';
}
export type FieldSpec = StringField | IntegerField | BooleanField;

const oneOf = (values: readonly string[]) => (v: string) => values.includes(v);
const cidr = (v: string) => parseIpv4Cidr(v) !== undefined;
const inRange = (min: number, max: number) => (v: number) => v >= min && v <= max;
const CIDR_EXPECTED = 'an IPv4 CIDR without host bits, such as 10.244.1.0/24';
const PATH_EXPECTED = 'an absolute path without ".."';
const IFNAME_EXPECTED = 'an interface name of 1..15 characters from [A-Za-z0-9_.-]';

function str(name: StringFieldName, description: string, expected: string, check: (v: string) => boolean, optional = false): StringField {
  return { name, kind: 'string', description, expected, check, optional };
}
function int(name: IntegerFieldName, description: string, expected: string, check: (v: number) => boolean): IntegerField {
  return { name, kind: 'integer', description, expected, check };
}

export const FIELDS: readonly FieldSpec[] = [
  str('nodeName', 'Kubernetes Node name of this node (required; env NODE_NAME)', 'a lowercase RFC 1123 DNS name such as node-1', isDnsSubdomain),
  str('kubeconfig', `kubeconfig path; "" = in-cluster service account; "${STANDALONE_KUBECONFIG}" = standalone without Kubernetes`,
    `"", "${STANDALONE_KUBECONFIG}" or ${PATH_EXPECTED}`, (v) => v === '' || v === STANDALONE_KUBECONFIG || isAbsolutePath(v)),
  str('podCIDR', 'pod CIDR of this node (overrides Node.spec.podCIDRs; required when kubeconfig is "none")', CIDR_EXPECTED, cidr, true),
  str('clusterCIDR', 'CIDR holding the pod CIDRs of all nodes', CIDR_EXPECTED, cidr),
  str('serviceCIDR', 'Service ClusterIP range', CIDR_EXPECTED, cidr),
  str('bridge', 'OVS integration bridge', IFNAME_EXPECTED, isInterfaceName),
  str('gatewayInterface', 'OVS internal port that is the pods\' gateway', IFNAME_EXPECTED, isInterfaceName),
  str('tunnelInterface', 'OVS tunnel port (flow-based, one for all peers)', IFNAME_EXPECTED, isInterfaceName),
  str('datapathType', 'OVS datapath: system (kernel), netdev (userspace) or auto', `one of ${DATAPATH_TYPES.join(', ')}`, oneOf(DATAPATH_TYPES)),
  str('ovsRunDir', 'directory of the OVS sockets (db.sock, <bridge>.mgmt)', PATH_EXPECTED, isAbsolutePath),
  str('ovsdbSocket', 'OVSDB remote; default unix:<ovsRunDir>/db.sock', 'unix:/absolute/path or tcp:IPv4:PORT', isOvsdbRemote, true),
  str('tunnelType', 'encapsulation between nodes', `one of ${TUNNEL_TYPES.join(', ')}`, oneOf(TUNNEL_TYPES)),
  int('tunnelPort', 'UDP port of the tunnel', 'an integer 1..65535', inRange(1, 65535)),
  int('tunnelVNI', 'VXLAN network identifier', 'an integer 1..16777215', inRange(1, 16777215)),
  str('transportInterface', 'interface for tunnel traffic (default: the one of the default route)', IFNAME_EXPECTED, isInterfaceName, true),
  str('transportIP', 'tunnel endpoint IP of this node (default: Node InternalIP)', 'an IPv4 address such as 192.168.1.10', isIpv4Address, true),
  int('mtu', 'pod MTU; 0 = transport MTU - 50', 'an integer 0 (auto) or 68..65535', (v) => v === 0 || inRange(68, 65535)(v)),
  str('cniSocket', 'unix socket where loom-cni reaches the agent', PATH_EXPECTED, isAbsolutePath),
  str('stateDir', 'directory for the agent state (IPAM store)', PATH_EXPECTED, isAbsolutePath),
  str('cniConfDir', 'directory of CNI network configurations', PATH_EXPECTED, isAbsolutePath),
  str('cniConfFile', 'file name of Loom\'s CNI configuration in cniConfDir', 'a file name ending in .conflist or .conf',
    (v) => isFileName(v) && (v.endsWith('.conflist') || v.endsWith('.conf'))),
  { name: 'installCniConfig', kind: 'boolean', description: 'write the CNI configuration file once the agent is ready', expected: 'true or false' },
  str('cniBinDir', 'directory of CNI plugin executables', PATH_EXPECTED, isAbsolutePath),
  str('logLevel', 'log level', `one of ${LOG_LEVELS.join(', ')}`, oneOf(LOG_LEVELS)),
  int('metricsPort', 'port of /metrics, /healthz, /readyz; 0 disables them', 'an integer 0 (disabled) or 1..65535', inRange(0, 65535)),
  str('metricsBindAddress', 'address the metrics/health endpoint listens on', 'an IPv4 address such as 0.0.0.0', isIpv4Address),
  str('auditLogDir', 'directory of the NetworkPolicy audit logs', PATH_EXPECTED, isAbsolutePath),
];

export function fieldDefault(field: FieldSpec): string | number | boolean | undefined {
  if (field.name === 'nodeName') return undefined;
  return (DEFAULT_CONFIG as Partial<Record<FieldName, string | number | boolean>>)[field.name];
}

/** podCIDR -> POD_CIDR, metricsBindAddress -> METRICS_BIND_ADDRESS. */
export function toScreamingSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toUpperCase();
}

/** podCIDR -> pod-cidr. */
export function toKebab(name: string): string {
  return toScreamingSnake(name).toLowerCase().replace(/_/g, '-');
}

export const envName = (field: FieldSpec): string => `LOOM_${toScreamingSnake(field.name)}`;
export const flagName = (field: FieldSpec): string => `--${toKebab(field.name)}`;
