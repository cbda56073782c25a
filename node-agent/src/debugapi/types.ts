// The agent's local debug API (served on a unix socket, used by loomctl): the JSON shapes it
// returns and the read-only view of the agent it needs (AgentIntrospection).
import type * as k8s from '@kubernetes/client-node';
import type { InstalledFlow } from '../ovs/flow-syntax.js';
import type { Flow } from '../pipeline/flow.js';
import type { Direction, RuleIndex } from '../policy/types.js';

/** API version prefix of every path. */
export const API_PREFIX = '/v1';

// ---- what the agent exposes ------------------------------------------------------------------

export interface LocalAttachmentView {
  containerId: string;
  ifname: string;
  podNamespace?: string;
  podName?: string;
  ip: string;
  mac: string;
  ofport: number;
  hostIfname: string;
}

export interface NodeNetworkView {
  gatewayOfport: number;
  gatewayMac: string;
  gatewayIp: string;
  podCidr: string;
}

export interface TunnelView {
  ofport: number;
  vni: number;
  /** this node's tunnel endpoint */
  nodeIp: string;
}

/** Read-only view of a running agent; the agent implements it with a small object literal. */
export interface AgentIntrospection {
  nodeName: string;
  bridge: string;
  /** ovs-vswitchd unixctl socket (ovs-appctl -t) */
  vswitchdCtl: string;
  /** `null` while the agent is not ready */
  notReadyReason(): string | null;
  network(): NodeNetworkView | undefined;
  tunnel(): TunnelView | undefined;
  attachments(): LocalAttachmentView[];
  /** informer caches; empty in standalone mode */
  pods(): readonly k8s.V1Pod[];
  namespaces(): readonly k8s.V1Namespace[];
  networkPolicies(): readonly k8s.V1NetworkPolicy[];
  nodes(): readonly k8s.V1Node[];
  /** conjunction id -> NetworkPolicy rule (empty without Kubernetes) */
  ruleIndex(): RuleIndex;
  dumpFlows(): Promise<InstalledFlow[]>;
  /** the NetworkPolicy compiler's desired flows (tables 30/35/60/65); empty without Kubernetes */
  policyFlows(): readonly Flow[];
}

// ---- GET /v1/pods ----------------------------------------------------------------------------

export interface PodLimits {
  /** bits per second, from the kubernetes.io/{ingress,egress}-bandwidth annotations */
  ingressBps?: number;
  egressBps?: number;
  ingressText?: string;
  egressText?: string;
}

export interface PodView {
  namespace: string;
  name: string;
  containerId: string;
  ip: string;
  mac: string;
  ofport: number;
  hostIfname: string;
  limits: PodLimits;
  isolation: { ingress: boolean; egress: boolean };
  /** NetworkPolicies selecting the pod, "ns/name" */
  policies: string[];
  /** namespace has loom.io/policy-audit=true */
  audited: boolean;
}

export interface PodsResponse {
  node: string;
  pods: PodView[];
}

// ---- GET /v1/pods/{ns}/{name}/policies -------------------------------------------------------

export interface RuleView {
  direction: Direction;
  /** index in spec.ingress / spec.egress */
  index: number;
  /** plain words: peers and ports */
  peers: string;
  ports: string;
  /** conjunction ids compiled for this rule on this node (several with named ports) */
  conjIds: number[];
}

export interface PolicyView {
  namespace: string;
  name: string;
  /** directions this policy isolates the pod in */
  isolates: Direction[];
  rules: RuleView[];
  warnings: string[];
}

export interface PodPoliciesResponse {
  node: string;
  pod: string;
  ip?: string;
  local: boolean;
  isolation: { ingress: string[]; egress: string[] };
  policies: PolicyView[];
}

// ---- GET /v1/flows ---------------------------------------------------------------------------

export interface FlowOwner {
  kind: 'pipeline' | 'pod' | 'node' | 'policy-rule' | 'policy-isolation' | 'policy-static' | 'audit' | 'foreign';
  /** plain words, e.g. "pod x/a", "NetworkPolicy x/allow ingress rule 0" */
  text: string;
  pod?: string;
  policy?: string;
}

export interface FlowView {
  table: number;
  tableName: string;
  priority: number;
  match: string;
  actions: string;
  cookie: string;
  packets?: number;
  owner: FlowOwner;
}

export interface FlowsResponse {
  node: string;
  flows: FlowView[];
}

// ---- POST /v1/trace --------------------------------------------------------------------------

export type TraceProtocol = 'tcp' | 'udp' | 'icmp';

export interface TraceRequest {
  /** "ns/name" of a pod, or an IPv4 address */
  src: string;
  dst: string;
  proto?: TraceProtocol;
  port?: number;
}

export interface TraceEndpoint {
  spec: string;
  ip: string;
  pod?: string;
  /** node the endpoint lives on ("" when outside the cluster) */
  node: string;
  local: boolean;
}

export interface TraceStep {
  table: number;
  tableName: string;
  /** the flow that matched as OVS printed it */
  match: string;
  priority: number;
  cookie: string;
  owner: FlowOwner;
  actions: string[];
  /** plain words */
  text: string;
}

export type Verdict = 'allowed' | 'dropped';

export interface PolicyDecision {
  direction: Direction;
  /** rule: a NetworkPolicy rule allowed it; isolation: default deny dropped it; open: the pod is not
   *  isolated in that direction; established: a reply/established connection skips policy;
   *  from-node: traffic from this node to its pods is always allowed */
  kind: 'rule' | 'isolation' | 'open' | 'established' | 'from-node';
  text: string;
  namespace?: string;
  name?: string;
  ruleIndex?: number;
  /** isolated pod and the policies isolating it */
  pod?: string;
  policies?: string[];
}

export interface TraceResult {
  node: string;
  src: TraceEndpoint;
  dst: TraceEndpoint;
  /** what was injected (ofproto/trace flow) */
  injected: string;
  steps: TraceStep[];
  verdict: Verdict;
  /** one sentence, e.g. "dropped by default deny: pod x/b is isolated for ingress by x/deny-all" */
  reason: string;
  /** how each policy direction decided on this node (egress on the source's node, ingress on the destination's) */
  decisions: PolicyDecision[];
  /** where the packet leaves the bridge (port name/description) */
  output?: string;
  /** set when the rest of the path is on another node */
  continuesOn?: { node: string; nodeIp: string; hint: string };
  /** ofproto/trace output, for experts */
  raw: string;
}

export interface ErrorResponse {
  error: string;
}
