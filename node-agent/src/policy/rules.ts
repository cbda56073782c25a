// NetworkPolicy -> internal rules for one node, in two steps:
//   analyzePolicy: cluster-independent validation and pre-compilation (once per policy version);
//   resolvePolicy: selectors -> local target pods, peer addresses, resolved named ports.
import { CidrError, cidrExcept, formatCidr, isIPv4, parseCidr, portRangeMasks, type Cidr } from './cidr.js';
import { compileSelector, selectorKey, SelectorError, type LabelPredicate } from './selectors.js';
import type {
  Direction,
  L4Protocol,
  LocalPod,
  PodInfo,
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
} from './types.js';

/** A port match of a rule: one protocol, all its ports or one port / masked range. */
export interface PortSel {
  protocol: L4Protocol;
  port?: number;
  mask?: number;
}

export interface PeerSelector {
  /** namespaces selected by namespaceSelector; undefined = the policy's own namespace */
  namespaceSelector?: { key: string; matches: LabelPredicate };
  podMatches: LabelPredicate;
}

export type AnalyzedPeers = { any: true } | { any: false; selectors: PeerSelector[]; cidrs: Cidr[] };
export type AnalyzedPorts =
  | { any: true }
  | { any: false; numeric: PortSel[]; named: Array<{ name: string; protocol: L4Protocol }> };

export interface AnalyzedRule {
  direction: Direction;
  index: number;
  peers: AnalyzedPeers;
  ports: AnalyzedPorts;
}

export interface AnalyzedPolicy {
  /** "<namespace>/<name>" */
  key: string;
  namespace: string;
  name: string;
  uid?: string;
  appliesTo: LabelPredicate;
  isolates: Record<Direction, boolean>;
  rules: AnalyzedRule[];
  /** problems that made parts of the policy allow less (never more) than written */
  warnings: string[];
  /** an egress rule with named ports and no `to`: its result depends on every pod of the cluster */
  dependsOnAllPods: boolean;
}

/** Read access to the cluster state that resolution needs (implemented by the compiler's caches). */
export interface ClusterView {
  podsInNamespace(namespace: string): Iterable<PodInfo>;
  allPods(): Iterable<PodInfo>;
  /** names of namespaces selected by a namespaceSelector (may be cached by key) */
  namespacesMatching(key: string, matches: LabelPredicate): Iterable<string>;
  /** local pods of a namespace with their cluster info (undefined while the informer lags) */
  localPodsInNamespace(namespace: string): Iterable<{ local: LocalPod; info: PodInfo | undefined }>;
  /** IPv4 addresses of a pod (status IPs plus the local attachment's IP) */
  podIPs(pod: PodInfo): string[];
}

export interface Target {
  /** "<namespace>/<name>" */
  pod: string;
  ip: string;
}

/** One conjunction: targets x peers x ports, any dimension possibly unrestricted. */
export interface ResolvedRule {
  /** stable identity used to allocate the conjunction id */
  key: string;
  direction: Direction;
  index: number;
  portGroup: string;
  targets: string[];
  /** formatted CIDRs / addresses, or 'any' */
  peers: string[] | 'any';
  ports: PortSel[] | 'any';
}

/** Peer pods and addresses of each rule ("<direction>|<index>"), reusable while peers are unchanged. */
export type PeerCache = Map<string, { pods: PodInfo[]; addresses: string[] }>;

export interface ResolvedPolicy {
  key: string;
  targets: Target[];
  isolates: Record<Direction, boolean>;
  rules: ResolvedRule[];
  warnings: string[];
}

class PeerError extends Error {}

type RuleIn = { _from?: V1NetworkPolicyPeer[]; from?: V1NetworkPolicyPeer[]; to?: V1NetworkPolicyPeer[]; ports?: V1NetworkPolicyPort[] };

export function policyKey(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}

/**
 * Validate and pre-compile a policy. Throws (with a message naming the field) only when nothing of
 * the policy can be honored (no name, broken spec.podSelector); smaller problems become warnings and
 * make the affected peer or port allow nothing.
 */
export function analyzePolicy(policy: V1NetworkPolicy): AnalyzedPolicy {
  const namespace = policy.metadata?.namespace;
  const name = policy.metadata?.name;
  if (!namespace || !name) throw new Error('policy has no metadata.namespace/metadata.name; cannot apply it');
  const spec = policy.spec ?? {};
  const warnings: string[] = [];
  let appliesTo: LabelPredicate;
  try {
    appliesTo = compileSelector(spec.podSelector ?? {});
  } catch (e) {
    throw new Error(`spec.podSelector: ${(e as Error).message}; policy skipped`);
  }
  const types = spec.policyTypes;
  const ingressRules = (spec.ingress ?? []) as RuleIn[];
  const egressRules = (spec.egress ?? []) as RuleIn[];
  const isolates: Record<Direction, boolean> = types
    ? { ingress: types.includes('Ingress'), egress: types.includes('Egress') }
    : { ingress: true, egress: egressRules.length > 0 };
  for (const t of types ?? []) {
    if (t !== 'Ingress' && t !== 'Egress') warnings.push(`spec.policyTypes: unknown type "${t}" ignored`);
  }

  const rules: AnalyzedRule[] = [];
  let dependsOnAllPods = false;
  const add = (direction: Direction, list: RuleIn[]) => {
    if (!isolates[direction]) return; // rules of a direction the policy does not isolate have no effect
    list.forEach((r, index) => {
      const where = `spec.${direction}[${index}]`;
      const peerList = direction === 'ingress' ? (r._from ?? r.from) : r.to;
      const peers = analyzePeers(peerList, `${where}.${direction === 'ingress' ? 'from' : 'to'}`, warnings);
      const ports = analyzePorts(r.ports, `${where}.ports`, warnings);
      if (direction === 'egress' && peers.any && !ports.any && ports.named.length > 0) dependsOnAllPods = true;
      rules.push({ direction, index, peers, ports });
    });
  };
  add('ingress', ingressRules);
  add('egress', egressRules);
  return { key: policyKey({ namespace, name }), namespace, name, uid: policy.metadata?.uid, appliesTo, isolates, rules, warnings, dependsOnAllPods };
}

function analyzePeers(list: V1NetworkPolicyPeer[] | undefined, where: string, warnings: string[]): AnalyzedPeers {
  if (!list || list.length === 0) return { any: true };
  const selectors: PeerSelector[] = [];
  const cidrs: Cidr[] = [];
  list.forEach((peer, i) => {
    const at = `${where}[${i}]`;
    try {
      if (peer.ipBlock) {
        if (peer.podSelector || peer.namespaceSelector) throw new PeerError('ipBlock cannot be combined with podSelector/namespaceSelector');
        const cidr = parseCidr(peer.ipBlock.cidr);
        const except = (peer.ipBlock.except ?? []).map(parseCidr);
        cidrs.push(...cidrExcept(cidr, except));
        return;
      }
      if (!peer.podSelector && !peer.namespaceSelector) throw new PeerError('peer has neither podSelector, namespaceSelector nor ipBlock');
      const ns = peer.namespaceSelector;
      selectors.push({
        namespaceSelector: ns ? { key: selectorKey(ns), matches: compileSelector(ns) } : undefined,
        podMatches: compileSelector(peer.podSelector ?? {}),
      });
    } catch (e) {
      if (!(e instanceof CidrError || e instanceof SelectorError || e instanceof PeerError)) throw e;
      warnings.push(`${at}: ${(e as Error).message}; this peer is ignored (allows nothing)`);
    }
  });
  return { any: false, selectors, cidrs };
}

const PROTOCOLS: Record<string, L4Protocol> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

function analyzePorts(list: V1NetworkPolicyPort[] | undefined, where: string, warnings: string[]): AnalyzedPorts {
  if (!list || list.length === 0) return { any: true };
  const numeric: PortSel[] = [];
  const named: Array<{ name: string; protocol: L4Protocol }> = [];
  list.forEach((p, i) => {
    const at = `${where}[${i}]`;
    const protocol = PROTOCOLS[p.protocol ?? 'TCP'];
    if (!protocol) {
      warnings.push(`${at}: protocol "${p.protocol}" is not TCP, UDP or SCTP; entry ignored (allows nothing)`);
      return;
    }
    const port = typeof p.port === 'string' && /^\d+$/.test(p.port) ? Number(p.port) : p.port;
    if (port === undefined) {
      numeric.push({ protocol });
    } else if (typeof port === 'string') {
      if (p.endPort !== undefined) {
        warnings.push(`${at}: endPort cannot be used with named port "${port}"; entry ignored (allows nothing)`);
        return;
      }
      named.push({ name: port, protocol });
    } else if (p.endPort !== undefined) {
      try {
        for (const m of portRangeMasks(port, p.endPort)) numeric.push({ protocol, ...m });
      } catch (e) {
        warnings.push(`${at}: ${(e as Error).message}; entry ignored (allows nothing)`);
      }
    } else if (Number.isInteger(port) && port >= 1 && port <= 65535) {
      numeric.push({ protocol, port });
    } else {
      warnings.push(`${at}: port ${port} is not in 1..65535; entry ignored (allows nothing)`);
    }
  });
  return { any: false, numeric, named };
}

export function portSelText(p: PortSel): string {
  if (p.port === undefined) return p.protocol;
  return p.mask === undefined ? `${p.protocol}:${p.port}` : `${p.protocol}:${p.port}/0x${p.mask.toString(16)}`;
}

function containerProtocol(p: string | undefined): L4Protocol | undefined {
  return PROTOCOLS[p ?? 'TCP'];
}

/** Resolve named ports against one pod's container ports (exact port per pod). */
function resolveNamed(named: Array<{ name: string; protocol: L4Protocol }>, pod: PodInfo): PortSel[] {
  const out: PortSel[] = [];
  for (const n of named) {
    for (const cp of pod.containerPorts) {
      if (cp.name === n.name && containerProtocol(cp.protocol) === n.protocol) out.push({ protocol: n.protocol, port: cp.containerPort });
    }
  }
  return out;
}

function dedupePorts(ports: PortSel[]): PortSel[] {
  const seen = new Map<string, PortSel>();
  for (const p of ports) seen.set(portSelText(p), p);
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
}

/** Group items by the port set each resolves to; empty resolutions are dropped. */
function groupByPorts<T>(items: Iterable<T>, resolve: (item: T) => PortSel[]): Map<string, { ports: PortSel[]; items: T[] }> {
  const groups = new Map<string, { ports: PortSel[]; items: T[] }>();
  for (const item of items) {
    const ports = dedupePorts(resolve(item));
    if (ports.length === 0) continue;
    const sig = ports.map(portSelText).join(',');
    let g = groups.get(sig);
    if (!g) groups.set(sig, (g = { ports, items: [] }));
    g.items.push(item);
  }
  return groups;
}

/** Local pods the policy applies to (those whose labels are known and match spec.podSelector). */
export function resolveTargets(policy: AnalyzedPolicy, view: ClusterView): { targets: Array<Target & { info: PodInfo }>; unknown: string[] } {
  const targets: Array<Target & { info: PodInfo }> = [];
  const unknown: string[] = [];
  for (const { local, info } of view.localPodsInNamespace(policy.namespace)) {
    const pod = `${local.namespace}/${local.name}`;
    if (!info) {
      unknown.push(pod);
      continue;
    }
    if (isIPv4(local.ip) && policy.appliesTo(info.labels)) targets.push({ pod, ip: local.ip, info });
  }
  targets.sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0));
  return { targets, unknown };
}

/** Pods selected by one rule's peer selectors (deduplicated). */
function selectPeerPods(policy: AnalyzedPolicy, peers: PeerSelector[], view: ClusterView): PodInfo[] {
  const out = new Map<string, PodInfo>();
  for (const sel of peers) {
    const namespaces = sel.namespaceSelector
      ? view.namespacesMatching(sel.namespaceSelector.key, sel.namespaceSelector.matches)
      : [policy.namespace];
    for (const ns of namespaces) {
      for (const pod of view.podsInNamespace(ns)) {
        if (sel.podMatches(pod.labels)) out.set(`${pod.namespace}/${pod.name}`, pod);
      }
    }
  }
  return [...out.values()];
}

function addressesOf(pods: PodInfo[], view: ClusterView): string[] {
  const out = new Set<string>();
  for (const p of pods) for (const ip of view.podIPs(p)) out.add(ip);
  return [...out];
}

/**
 * Resolve an analyzed policy against the cluster for this node. A policy that selects no local pod
 * resolves to no targets and no rules (nothing to install here).
 */
export function resolvePolicy(policy: AnalyzedPolicy, view: ClusterView, peerCache?: PeerCache): ResolvedPolicy {
  const warnings = [...policy.warnings];
  const { targets, unknown } = resolveTargets(policy, view);
  if (unknown.length > 0) {
    warnings.push(`local pods ${unknown.join(', ')} have no labels yet (pod not in the informer cache); not selected until they do`);
  }
  const resolved: ResolvedPolicy = { key: policy.key, targets, isolates: policy.isolates, rules: [], warnings };
  if (targets.length === 0) return resolved;
  const allTargetIps = targets.map((t) => t.ip);

  for (const rule of policy.rules) {
    const base = `${policy.key}|${rule.direction}|${rule.index}`;
    const push = (portGroup: string, t: string[], peers: string[] | 'any', ports: PortSel[] | 'any') => {
      if (t.length === 0 || (peers !== 'any' && peers.length === 0) || (ports !== 'any' && ports.length === 0)) return;
      resolved.rules.push({ key: `${base}|${portGroup}`, direction: rule.direction, index: rule.index, portGroup, targets: t, peers, ports });
    };
    // Peer pods are resolved once per rule (addresses and egress named ports derive from them) and
    // cached across recomputes that only change targets; the caller clears the cache otherwise.
    const cacheKey = `${rule.direction}|${rule.index}`;
    let cached = peerCache?.get(cacheKey);
    if (!cached && !rule.peers.any) {
      const pods = selectPeerPods(policy, rule.peers.selectors, view);
      const cidrs = rule.peers.cidrs.map(formatCidr);
      cached = { pods, addresses: [...new Set([...cidrs, ...addressesOf(pods, view)])] };
      peerCache?.set(cacheKey, cached);
    }
    const peerPods = cached?.pods;
    const addresses: string[] | 'any' = cached?.addresses ?? 'any';

    if (rule.ports.any) {
      push('all', allTargetIps, addresses, 'any');
      continue;
    }
    if (rule.ports.numeric.length > 0) push('numeric', allTargetIps, addresses, dedupePorts(rule.ports.numeric));
    const named = rule.ports.named;
    if (named.length === 0) continue;
    if (rule.direction === 'ingress') {
      // named ports resolve against each target pod: one group per distinct resolution
      for (const [sig, g] of groupByPorts(targets, (t) => resolveNamed(named, t.info))) {
        push(`named:${sig}`, g.items.map((t) => t.ip), addresses, g.ports);
      }
    } else {
      // named ports resolve against each destination pod; ipBlock destinations have no named ports
      const candidates = peerPods ?? view.allPods();
      for (const [sig, g] of groupByPorts(candidates, (p) => resolveNamed(named, p))) {
        push(`named:${sig}`, allTargetIps, addressesOf(g.items, view), g.ports);
      }
    }
  }
  return resolved;
}

/**
 * Which of the policy's peer selectors select a pod with these labels: one character per selector
 * ('1' selected, '0' not). Comparing two versions of a pod tells whether its peer role changed.
 */
export function peerMatchVector(
  policy: AnalyzedPolicy,
  pod: { namespace: string; labels: PodInfo['labels'] },
  namespaceLabels: PodInfo['labels'] | undefined,
): string {
  let v = '';
  for (const rule of policy.rules) {
    if (rule.peers.any) continue;
    for (const sel of rule.peers.selectors) {
      const nsOk = sel.namespaceSelector
        ? namespaceLabels !== undefined && sel.namespaceSelector.matches(namespaceLabels)
        : pod.namespace === policy.namespace;
      v += nsOk && sel.podMatches(pod.labels) ? '1' : '0';
    }
  }
  return v;
}

/** Does any peer of the policy use a namespaceSelector that matches these namespace labels? */
export function namespaceSelectorsMayMatch(policy: AnalyzedPolicy, labels: PodInfo['labels']): boolean {
  for (const rule of policy.rules) {
    if (rule.peers.any) continue;
    for (const sel of rule.peers.selectors) if (sel.namespaceSelector?.matches(labels)) return true;
  }
  return false;
}
