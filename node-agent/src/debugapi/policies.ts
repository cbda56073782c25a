// Which NetworkPolicies select a pod, what their rules say (in plain words), and which of them
// isolate the pod in each direction.
import type * as k8s from '@kubernetes/client-node';
import { analyzePolicy } from '../policy/rules.js';
import type { Direction, RuleIndex, V1LabelSelector, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '../policy/types.js';
import type { PolicyView, RuleView } from './types.js';

export function selectorText(sel: V1LabelSelector | undefined, all: string): string {
  if (!sel) return all;
  const parts = [
    ...Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(sel.matchExpressions ?? []).map((e) => `${e.key} ${e.operator}${e.values && e.values.length > 0 ? ` (${e.values.join(',')})` : ''}`),
  ];
  return parts.length === 0 ? all : parts.join(',');
}

export function peerText(p: V1NetworkPolicyPeer): string {
  if (p.ipBlock) return `ipBlock ${p.ipBlock.cidr}${p.ipBlock.except?.length ? ` except ${p.ipBlock.except.join(',')}` : ''}`;
  const pods = selectorText(p.podSelector, 'all pods');
  if (!p.namespaceSelector) return p.podSelector ? `pods ${pods} (same namespace)` : 'all pods (same namespace)';
  const ns = selectorText(p.namespaceSelector, 'all namespaces');
  return `${p.podSelector ? `pods ${pods}` : 'all pods'} in namespaces ${ns}`;
}

export function portText(p: V1NetworkPolicyPort): string {
  const proto = p.protocol ?? 'TCP';
  if (p.port === undefined) return `${proto} all ports`;
  return `${proto}/${String(p.port)}${p.endPort !== undefined ? `-${p.endPort}` : ''}`;
}

interface SelectingPolicy {
  policy: k8s.V1NetworkPolicy;
  key: string;
  isolates: Direction[];
  warnings: string[];
}

/** Policies of the pod's namespace whose podSelector matches the pod's labels. */
export function selectingPolicies(policies: readonly k8s.V1NetworkPolicy[], namespace: string, labels: Record<string, string>): SelectingPolicy[] {
  const out: SelectingPolicy[] = [];
  for (const p of policies) {
    if (p.metadata?.namespace !== namespace) continue;
    let a;
    try {
      a = analyzePolicy(p);
    } catch {
      continue; // an unusable policy isolates nothing (the compiler skips it too)
    }
    if (!a.appliesTo(labels)) continue;
    out.push({ policy: p, key: a.key, isolates: (['ingress', 'egress'] as const).filter((d) => a.isolates[d]), warnings: a.warnings });
  }
  return out.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

/** Policy keys isolating the pod in one direction. */
export function isolatingPolicies(policies: readonly k8s.V1NetworkPolicy[], namespace: string, labels: Record<string, string>, direction: Direction): string[] {
  return selectingPolicies(policies, namespace, labels).filter((s) => s.isolates.includes(direction)).map((s) => s.key);
}

export function policyViews(selecting: SelectingPolicy[], rules: RuleIndex): PolicyView[] {
  return selecting.map((s) => {
    const ns = s.policy.metadata?.namespace ?? '';
    const name = s.policy.metadata?.name ?? '';
    const views: RuleView[] = [];
    for (const direction of s.isolates) {
      const list = direction === 'ingress' ? (s.policy.spec?.ingress ?? []) : (s.policy.spec?.egress ?? []);
      list.forEach((r, index) => {
        // informer objects carry `_from` (client-node model), raw JSON carries `from`
        const rr = r as { _from?: V1NetworkPolicyPeer[]; from?: V1NetworkPolicyPeer[]; to?: V1NetworkPolicyPeer[] };
        const peers = direction === 'ingress' ? (rr._from ?? rr.from) : rr.to;
        const conjIds = [...rules.values()]
          .filter((x) => x.namespace === ns && x.name === name && x.direction === direction && x.index === index)
          .map((x) => x.id)
          .sort((a, b) => a - b);
        views.push({
          direction,
          index,
          peers: peers && peers.length > 0 ? peers.map(peerText).join('; ') : direction === 'ingress' ? 'from anywhere' : 'to anywhere',
          ports: r.ports && r.ports.length > 0 ? r.ports.map(portText).join(', ') : 'all ports and protocols',
          conjIds,
        });
      });
    }
    return { namespace: ns, name, isolates: s.isolates, rules: views, warnings: s.warnings };
  });
}
