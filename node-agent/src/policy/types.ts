// Input and output types of the NetworkPolicy compiler (pure code, no I/O).
import type {
  V1LabelSelector,
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
} from '@kubernetes/client-node';
import type { Flow } from '../pipeline/flow.js';

export type { V1LabelSelector, V1NetworkPolicy, V1NetworkPolicyPeer, V1NetworkPolicyPort };

export type Labels = Readonly<Record<string, string>>;

/** L4 protocols a NetworkPolicy port can name. */
export type L4Protocol = 'tcp' | 'udp' | 'sctp';

export interface ContainerPortInfo {
  name?: string;
  containerPort: number;
  /** Kubernetes spelling ("TCP", "UDP", "SCTP"); TCP when absent. */
  protocol?: string;
}

/** Any pod of the cluster, as the informer cache knows it. */
export interface PodInfo {
  namespace: string;
  name: string;
  uid?: string;
  labels: Labels;
  /** status.podIPs; IPv6 addresses are ignored (IPv4 only). */
  ips: string[];
  nodeName: string;
  containerPorts: ContainerPortInfo[];
}

export interface NamespaceInfo {
  name: string;
  labels: Labels;
}

/** A pod attached to this node's bridge (known by the agent before the API server has its IP). */
export interface LocalPod {
  namespace: string;
  name: string;
  ip: string;
  ofport: number;
}

export type Direction = 'ingress' | 'egress';

/** Where a compiled rule came from: lets any installed flow be traced back to the YAML. */
export interface RuleRef {
  /** conjunction id, also the value of reg2/reg3 and of ct_label for connections it allowed */
  id: number;
  namespace: string;
  name: string;
  uid?: string;
  direction: Direction;
  /** index of the rule in spec.ingress / spec.egress */
  index: number;
  /** "all" (no ports), "numeric", or "named:<resolved ports>" when named ports split the rule */
  portGroup: string;
}

/** Rule id -> origin, for every rule currently compiled. */
export type RuleIndex = ReadonlyMap<number, RuleRef>;

export interface PolicyWarning {
  /** "<namespace>/<name>" of the policy */
  policy: string;
  message: string;
}

/** Everything the compiler needs for one node. */
export interface NodePolicyInputs {
  pods: Iterable<PodInfo>;
  namespaces: Iterable<NamespaceInfo>;
  policies: Iterable<V1NetworkPolicy>;
  localPods: Iterable<LocalPod>;
  /**
   * Source addresses of traffic from this node itself (gateway IP and the node's other addresses).
   * Ingress from them is always allowed (kubelet probes). When absent or empty, every packet that
   * comes from the gateway port is allowed instead.
   */
  nodeAddresses?: string[];
  /** cookie round (see pipeline/cookie.ts); 0 when absent */
  round?: number;
}

export interface CompileResult {
  flows: Flow[];
  rules: RuleIndex;
  warnings: PolicyWarning[];
}

/**
 * Flow changes to apply, keyed by flowIdentity (table, priority, match).
 * `modify` holds flows whose identity is already installed but whose actions or cookie changed
 * (a shared clause flow gaining or losing a conjunction); an OpenFlow ADD of the same match and
 * priority replaces such a flow in place, so apply `delete`, `modify`, `add` in ONE bundle.
 */
export interface FlowDiff {
  add: Flow[];
  modify: Flow[];
  delete: Flow[];
  warnings: PolicyWarning[];
}
