// The node's NetworkPolicy compiler: caches of the cluster (pods, namespaces, policies, local pods),
// the flows each policy contributes, and incremental recomputation.
//
// Incremental model: every policy owns a set of flow "pieces" (policy/flows.ts); pieces with the
// same table/priority/match are one OpenFlow flow (conjunction actions merged). An event recomputes
// only the policies it can affect:
//   - pod change: policies of its namespace whose podSelector matches it (if it is local), and the
//     policies active on this node (selecting a local pod) whose peers may select it;
//   - namespace label change: active policies with a namespaceSelector matching old or new labels;
//   - policy change: that policy; local pod set change: policies of the pods' namespaces.
// A policy selecting no local pod costs nothing beyond its parsed form. Then only the flows whose
// merged content changed are returned, as a FlowDiff {add, modify, delete}.
import { objectId } from '../pipeline/cookie.js';
import type { Flow } from '../pipeline/flow.js';
import { isIPv4 } from './cidr.js';
import { flowContent, isolationPieces, mergePieces, rulePieces, staticPieces, type Piece } from './flows.js';
import {
  analyzePolicy,
  namespaceSelectorsMayMatch,
  peerMatchVector,
  policyKey,
  resolvePolicy,
  type AnalyzedPolicy,
  type ClusterView,
  type PeerCache,
  type ResolvedPolicy,
} from './rules.js';
import type { LabelPredicate } from './selectors.js';
import type {
  CompileResult,
  FlowDiff,
  LocalPod,
  NamespaceInfo,
  NodePolicyInputs,
  PodInfo,
  PolicyWarning,
  RuleIndex,
  RuleRef,
  V1NetworkPolicy,
} from './types.js';

/** Conjunction ids: a stable hash of the rule key, probing on the (rare) collision; never 0. */
export class ConjIdAllocator {
  private readonly byKey = new Map<string, number>();
  private readonly byId = new Map<number, string>();

  acquire(key: string): number {
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    let id = objectId(key);
    for (let n = 1; id === 0 || this.byId.has(id); n++) id = objectId(`${key}#${n}`);
    this.byKey.set(key, id);
    this.byId.set(id, key);
    return id;
  }

  release(key: string): void {
    const id = this.byKey.get(key);
    if (id === undefined) return;
    this.byKey.delete(key);
    this.byId.delete(id);
  }
}

interface PolicyState {
  raw: V1NetworkPolicy;
  specText: string;
  namespace: string;
  analyzed?: AnalyzedPolicy;
  analyzeError?: string;
  /** slot key -> this policy's pieces in that slot */
  pieces: Map<string, Piece[]>;
  /** rule key -> conjunction id currently used */
  ruleIds: Map<string, number>;
  warnings: string[];
  /** resolved peers per rule, kept while only the policy's local targets change */
  peerCache: PeerCache;
}

/** Policies to recompute -> whether their peers may have changed (false: only targets did). */
type Affected = Map<string, boolean>;

function markAffected(out: Affected, key: string, peers: boolean): void {
  out.set(key, (out.get(key) ?? false) || peers);
}

const STATIC_OWNER = '';

export interface PolicyCompilerOptions {
  nodeAddresses?: string[];
  round?: number;
}

function podKey(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}

function addTo<K, V>(m: Map<K, Map<string, V>>, k: K, key: string, v: V): void {
  let inner = m.get(k);
  if (!inner) m.set(k, (inner = new Map()));
  inner.set(key, v);
}

function removeFrom<K, V>(m: Map<K, Map<string, V>>, k: K, key: string): void {
  const inner = m.get(k);
  if (!inner) return;
  inner.delete(key);
  if (inner.size === 0) m.delete(k);
}

function podContent(p: PodInfo | undefined): string {
  if (!p) return '';
  const labels = Object.entries(p.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([labels, p.ips, p.containerPorts]);
}

function labelsText(l: NamespaceInfo['labels'] | undefined): string {
  return l ? JSON.stringify(Object.entries(l).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : '';
}

export class PolicyCompiler {
  private readonly pods = new Map<string, PodInfo>();
  private readonly podsByNs = new Map<string, Map<string, PodInfo>>();
  private readonly namespaces = new Map<string, NamespaceInfo>();
  private readonly nsSelectorCache = new Map<string, { matches: LabelPredicate; names: string[] }>();
  private readonly local = new Map<string, LocalPod>();
  private readonly localByNs = new Map<string, Map<string, LocalPod>>();
  private readonly policies = new Map<string, PolicyState>();
  private readonly policiesByNs = new Map<string, Map<string, PolicyState>>();
  /** policies that select at least one local pod */
  private readonly active = new Set<string>();
  private readonly slots = new Map<string, Map<string, Piece[]>>();
  private readonly installed = new Map<string, Flow>();
  private readonly dirty = new Set<string>();
  private readonly ids = new ConjIdAllocator();
  private readonly ruleIndex = new Map<number, RuleRef>();
  private readonly staticState: PolicyState;
  private readonly round: number;
  private pendingWarnings: PolicyWarning[] = [];

  readonly view: ClusterView = {
    podsInNamespace: (ns) => this.podsByNs.get(ns)?.values() ?? [],
    allPods: () => this.pods.values(),
    namespacesMatching: (key, matches) => {
      let hit = this.nsSelectorCache.get(key);
      if (!hit) {
        const names: string[] = [];
        for (const ns of this.namespaces.values()) if (matches(ns.labels)) names.push(ns.name);
        this.nsSelectorCache.set(key, (hit = { matches, names }));
      }
      return hit.names;
    },
    localPodsInNamespace: (ns) => {
      const out: Array<{ local: LocalPod; info: PodInfo | undefined }> = [];
      for (const [key, local] of this.localByNs.get(ns) ?? []) out.push({ local, info: this.pods.get(key) });
      return out;
    },
    podIPs: (pod) => {
      const local = this.local.get(podKey(pod));
      const ips = pod.ips.filter(isIPv4);
      if (local && isIPv4(local.ip) && !ips.includes(local.ip)) ips.push(local.ip);
      return ips;
    },
  };

  constructor(opts: PolicyCompilerOptions = {}) {
    this.round = opts.round ?? 0;
    this.staticState = { raw: {}, specText: '', namespace: '', pieces: new Map(), ruleIds: new Map(), warnings: [], peerCache: new Map() };
    this.setOwnerPieces(this.staticState, STATIC_OWNER, staticPieces(this.validNodeAddresses(opts.nodeAddresses ?? []), this.round));
  }

  // ---- bulk load (start-up / restart) --------------------------------------------------------

  /** Load a whole cluster snapshot at once and return every flow as `add` (plus any changes). */
  load(inputs: Omit<NodePolicyInputs, 'round' | 'nodeAddresses'>): FlowDiff {
    for (const ns of inputs.namespaces) this.namespaces.set(ns.name, ns);
    this.nsSelectorCache.clear();
    for (const p of inputs.pods) this.storePod(p);
    for (const lp of inputs.localPods) this.storeLocal(lp);
    const touched: string[] = [];
    for (const p of inputs.policies) {
      const key = this.storePolicy(p);
      if (key) touched.push(key);
    }
    // only policies of namespaces that have local pods can produce flows here
    for (const key of touched) {
      const st = this.policies.get(key);
      if (st && this.localByNs.has(st.namespace)) this.recompute(key, true);
    }
    return this.flush();
  }

  // ---- incremental events ------------------------------------------------------------------

  upsertPod(pod: PodInfo): FlowDiff {
    const key = podKey(pod);
    const old = this.pods.get(key);
    if (old && podContent(old) === podContent(pod)) {
      this.storePod(pod);
      return this.flush();
    }
    const affected: Affected = new Map();
    this.affectedByPod(key, old, pod, affected);
    if (old) this.unstorePod(old);
    this.storePod(pod);
    return this.recomputeAll(affected);
  }

  deletePod(namespace: string, name: string): FlowDiff {
    const key = podKey({ namespace, name });
    const old = this.pods.get(key);
    if (!old) return this.flush();
    const affected: Affected = new Map();
    this.affectedByPod(key, old, undefined, affected);
    this.unstorePod(old);
    return this.recomputeAll(affected);
  }

  upsertNamespace(ns: NamespaceInfo): FlowDiff {
    const old = this.namespaces.get(ns.name);
    this.namespaces.set(ns.name, ns);
    if (old && labelsText(old.labels) === labelsText(ns.labels)) return this.flush();
    return this.recomputeAll(this.affectedByNamespace([old?.labels, ns.labels]));
  }

  deleteNamespace(name: string): FlowDiff {
    const old = this.namespaces.get(name);
    if (!old) return this.flush();
    this.namespaces.delete(name);
    return this.recomputeAll(this.affectedByNamespace([old.labels]));
  }

  upsertPolicy(policy: V1NetworkPolicy): FlowDiff {
    const namespace = policy.metadata?.namespace ?? '';
    const key = podKey({ namespace, name: policy.metadata?.name ?? '' });
    const old = this.policies.get(key);
    if (old && old.specText === JSON.stringify(policy.spec ?? {})) return this.flush();
    const stored = this.storePolicy(policy);
    return this.recomputeAll(new Map(stored ? [[stored, true]] : []));
  }

  deletePolicy(namespace: string, name: string): FlowDiff {
    const key = podKey({ namespace, name });
    const st = this.policies.get(key);
    if (!st) return this.flush();
    this.policies.delete(key);
    removeFrom(this.policiesByNs, namespace, key);
    this.active.delete(key);
    this.setOwnerPieces(st, key, []);
    this.setRuleIds(st, new Map());
    return this.flush();
  }

  /** Replace the set of pods attached to this node. */
  setLocalPods(pods: Iterable<LocalPod>): FlowDiff {
    const next = new Map<string, LocalPod>();
    for (const lp of pods) next.set(podKey(lp), lp);
    const changed: string[] = [];
    for (const [key, lp] of next) {
      const old = this.local.get(key);
      if (!old || old.ip !== lp.ip || old.ofport !== lp.ofport) changed.push(key);
    }
    for (const key of this.local.keys()) if (!next.has(key)) changed.push(key);
    const affected: Affected = new Map();
    for (const key of changed) this.affectedByLocal(key, affected); // before: old membership
    for (const key of changed) {
      const old = this.local.get(key);
      if (old) this.unstoreLocal(old);
      const lp = next.get(key);
      if (lp) this.storeLocal(lp);
    }
    for (const key of changed) this.affectedByLocal(key, affected); // after: new membership
    return this.recomputeAll(affected);
  }

  /** A pod was attached to this node (CNI ADD): apply the returned diff before answering ADD. */
  upsertLocalPod(pod: LocalPod): FlowDiff {
    const next = [...this.local.values()].filter((lp) => podKey(lp) !== podKey(pod));
    return this.setLocalPods([...next, pod]);
  }

  deleteLocalPod(namespace: string, name: string): FlowDiff {
    const key = podKey({ namespace, name });
    return this.setLocalPods([...this.local.values()].filter((lp) => podKey(lp) !== key));
  }

  setNodeAddresses(addresses: string[]): FlowDiff {
    this.setOwnerPieces(this.staticState, STATIC_OWNER, staticPieces(this.validNodeAddresses(addresses), this.round));
    return this.flush();
  }

  // ---- read access -------------------------------------------------------------------------

  /** Every flow the policy stage wants installed now. */
  flows(): Flow[] {
    return [...this.installed.values()];
  }

  rules(): RuleIndex {
    return this.ruleIndex;
  }

  warnings(): PolicyWarning[] {
    const out: PolicyWarning[] = [];
    for (const [key, st] of this.policies) for (const message of st.warnings) out.push({ policy: key, message });
    return out;
  }

  /** Number of policies selecting at least one local pod. */
  activePolicyCount(): number {
    return this.active.size;
  }

  // ---- internals ---------------------------------------------------------------------------

  private validNodeAddresses(addresses: string[]): string[] {
    const bad = addresses.filter((a) => !isIPv4(a));
    if (bad.length > 0) this.pendingWarnings.push({ policy: '(node)', message: `node addresses ${bad.join(', ')} are not IPv4; ignored` });
    return [...new Set(addresses.filter(isIPv4))].sort();
  }

  private storePod(p: PodInfo): void {
    const key = podKey(p);
    this.pods.set(key, p);
    addTo(this.podsByNs, p.namespace, key, p);
  }

  private unstorePod(p: PodInfo): void {
    const key = podKey(p);
    this.pods.delete(key);
    removeFrom(this.podsByNs, p.namespace, key);
  }

  private storeLocal(lp: LocalPod): void {
    const key = podKey(lp);
    this.local.set(key, lp);
    addTo(this.localByNs, lp.namespace, key, lp);
  }

  private unstoreLocal(lp: LocalPod): void {
    const key = podKey(lp);
    this.local.delete(key);
    removeFrom(this.localByNs, lp.namespace, key);
  }

  /** Parse and store a policy; returns its key (undefined when it has no name). */
  private storePolicy(policy: V1NetworkPolicy): string | undefined {
    const namespace = policy.metadata?.namespace;
    const name = policy.metadata?.name;
    if (!namespace || !name) {
      this.pendingWarnings.push({ policy: '(unnamed)', message: 'NetworkPolicy without metadata.namespace/name ignored' });
      return undefined;
    }
    const key = policyKey({ namespace, name });
    const prev = this.policies.get(key);
    const st: PolicyState = {
      raw: policy,
      specText: JSON.stringify(policy.spec ?? {}),
      namespace,
      pieces: prev?.pieces ?? new Map(),
      ruleIds: prev?.ruleIds ?? new Map(),
      warnings: [],
      peerCache: new Map(),
    };
    try {
      st.analyzed = analyzePolicy(policy);
      st.warnings = [...st.analyzed.warnings];
    } catch (e) {
      st.analyzeError = (e as Error).message;
      st.warnings = [st.analyzeError];
    }
    for (const message of st.warnings) this.pendingWarnings.push({ policy: key, message });
    this.policies.set(key, st);
    addTo(this.policiesByNs, namespace, key, st);
    return key;
  }

  /**
   * Policies a pod change (old -> next; either may be absent) can affect. When the pod keeps its
   * addresses and ports, only a change of selection counts (label edits irrelevant to a policy do
   * not recompute it); otherwise any policy selecting either version is recomputed.
   */
  private affectedByPod(key: string, old: PodInfo | undefined, next: PodInfo | undefined, out: Affected): void {
    const namespace = (old ?? next)?.namespace;
    if (namespace === undefined) return;
    const sameAddressing =
      old !== undefined && next !== undefined && JSON.stringify([old.ips, old.containerPorts]) === JSON.stringify([next.ips, next.containerPorts]);
    if (this.local.has(key)) {
      for (const [pk, st] of this.policiesByNs.get(namespace) ?? []) {
        const a = st.analyzed;
        if (!a) continue;
        const before = old !== undefined && a.appliesTo(old.labels);
        const after = next !== undefined && a.appliesTo(next.labels);
        if (sameAddressing ? before !== after : before || after) markAffected(out, pk, false);
      }
    }
    const nsLabels = this.namespaces.get(namespace)?.labels;
    for (const pk of this.active) {
      const a = this.policies.get(pk)?.analyzed;
      if (!a) continue;
      const before = old ? peerMatchVector(a, old, nsLabels) : '';
      const after = next ? peerMatchVector(a, next, nsLabels) : '';
      const changed = sameAddressing ? before !== after : before.includes('1') || after.includes('1') || a.dependsOnAllPods;
      if (changed) markAffected(out, pk, true);
    }
  }

  /** A pod joins or leaves this node: it may become/stop being a target, and its local IP a peer address. */
  private affectedByLocal(key: string, out: Affected): void {
    const info = this.pods.get(key);
    if (info) this.affectedByPod(key, undefined, info, out);
  }

  private affectedByNamespace(versions: Array<NamespaceInfo['labels'] | undefined>): Affected {
    for (const [key, entry] of this.nsSelectorCache) {
      if (versions.some((l) => l !== undefined && entry.matches(l))) this.nsSelectorCache.delete(key);
    }
    const out: Affected = new Map();
    for (const pk of this.active) {
      const a = this.policies.get(pk)?.analyzed;
      if (a && versions.some((l) => l !== undefined && namespaceSelectorsMayMatch(a, l))) markAffected(out, pk, true);
    }
    return out;
  }

  private recomputeAll(affected: Affected): FlowDiff {
    for (const [key, peersChanged] of affected) this.recompute(key, peersChanged);
    return this.flush();
  }

  private recompute(key: string, peersChanged: boolean): void {
    const st = this.policies.get(key);
    if (!st) return;
    if (peersChanged) st.peerCache.clear();
    const pieces: Piece[] = [];
    const ruleIds = new Map<string, number>();
    const a = st.analyzed;
    let resolved: ResolvedPolicy | undefined;
    if (a) {
      try {
        resolved = resolvePolicy(a, this.view, st.peerCache);
      } catch (e) {
        // never let one policy break the others: it contributes nothing and is reported
        st.warnings = [...a.warnings, `cannot compile policy: ${(e as Error).message}; policy skipped`];
        this.pendingWarnings.push({ policy: key, message: st.warnings[st.warnings.length - 1] as string });
      }
    }
    if (a && resolved) {
      for (const message of resolved.warnings.slice(a.warnings.length)) this.pendingWarnings.push({ policy: key, message });
      st.warnings = resolved.warnings;
      for (const rule of resolved.rules) {
        const id = this.ids.acquire(rule.key);
        ruleIds.set(rule.key, id);
        this.ruleIndex.set(id, {
          id,
          namespace: a.namespace,
          name: a.name,
          uid: a.uid,
          direction: rule.direction,
          index: rule.index,
          portGroup: rule.portGroup,
        });
        pieces.push(...rulePieces(rule, id, this.round));
      }
      pieces.push(...isolationPieces(resolved, this.round));
    }
    if (resolved && resolved.targets.length > 0) {
      this.active.add(key);
    } else {
      // inactive policies are not told about peer changes: their cached peers would go stale
      this.active.delete(key);
      st.peerCache.clear();
    }
    this.setOwnerPieces(st, key, pieces);
    this.setRuleIds(st, ruleIds);
  }

  private setRuleIds(st: PolicyState, next: Map<string, number>): void {
    for (const [ruleKey, id] of st.ruleIds) {
      if (next.get(ruleKey) === id) continue;
      this.ids.release(ruleKey);
      this.ruleIndex.delete(id);
    }
    st.ruleIds = next;
  }

  private setOwnerPieces(st: PolicyState, owner: string, pieces: Piece[]): void {
    const next = new Map<string, Piece[]>();
    for (const p of pieces) {
      const list = next.get(p.key);
      if (list) list.push(p);
      else next.set(p.key, [p]);
    }
    for (const key of st.pieces.keys()) {
      if (next.has(key)) continue;
      const slot = this.slots.get(key);
      slot?.delete(owner);
      if (slot && slot.size === 0) this.slots.delete(key);
      this.dirty.add(key);
    }
    for (const [key, list] of next) {
      let slot = this.slots.get(key);
      if (!slot) this.slots.set(key, (slot = new Map()));
      slot.set(owner, list);
      this.dirty.add(key);
    }
    st.pieces = next;
  }

  private flush(): FlowDiff {
    const diff: FlowDiff = { add: [], modify: [], delete: [], warnings: this.pendingWarnings };
    this.pendingWarnings = [];
    for (const key of this.dirty) {
      const slot = this.slots.get(key);
      const before = this.installed.get(key);
      if (!slot || slot.size === 0) {
        if (before) {
          diff.delete.push(before);
          this.installed.delete(key);
        }
        continue;
      }
      const all: Piece[] = [];
      for (const list of slot.values()) all.push(...list);
      const flow = mergePieces(all);
      if (!before) diff.add.push(flow);
      else if (flowContent(before) !== flowContent(flow)) diff.modify.push(flow);
      else continue;
      this.installed.set(key, flow);
    }
    this.dirty.clear();
    return diff;
  }
}

/** Compile the full flow set of one node from a cluster snapshot (pure; see PolicyCompiler). */
export function compileNodePolicies(inputs: NodePolicyInputs): CompileResult {
  const compiler = new PolicyCompiler({ nodeAddresses: inputs.nodeAddresses, round: inputs.round });
  const diff = compiler.load(inputs);
  const warnings = [...diff.warnings.filter((w) => !w.policy.includes('/')), ...compiler.warnings()];
  return { flows: compiler.flows(), rules: new Map(compiler.rules()), warnings };
}
