// Cookie -> the object a flow belongs to (pod, node, NetworkPolicy rule, isolation), in plain words.
import { CookieKind, decodeCookie, objectId } from '../pipeline/cookie.js';
import { podAttachmentKey, podCookieId } from '../pipeline/pipeline.js';
import { nodeCookieId } from '../pipeline/tunnel.js';
import { STATIC_COOKIE_ID } from '../policy/flows.js';
import type { Direction, RuleIndex, RuleRef } from '../policy/types.js';
import { decodeAuditCookie } from '../audit/cookie.js';
import type { FlowOwner, LocalAttachmentView } from './types.js';

export interface OwnerIndex {
  pods: Map<number, string>;
  nodes: Map<number, string>;
  rules: RuleIndex;
  /** isolation cookie id -> pod and direction */
  isolation: Map<number, { pod: string; direction: Direction }>;
  /** pod "ns/name" -> policies isolating it, per direction (for plain-word explanations) */
  isolatingPolicies: (pod: string, direction: Direction) => string[];
}

export function podLabel(a: Pick<LocalAttachmentView, 'podNamespace' | 'podName' | 'containerId'>): string {
  return a.podNamespace && a.podName ? `${a.podNamespace}/${a.podName}` : `container ${a.containerId.slice(0, 12)}`;
}

export function buildOwnerIndex(o: {
  attachments: LocalAttachmentView[];
  nodeNames: string[];
  rules: RuleIndex;
  isolatingPolicies?: (pod: string, direction: Direction) => string[];
}): OwnerIndex {
  const pods = new Map<number, string>();
  const isolation = new Map<number, { pod: string; direction: Direction }>();
  for (const a of o.attachments) {
    pods.set(podCookieId(podAttachmentKey(a.containerId, a.ifname)), podLabel(a));
    if (a.podNamespace && a.podName) {
      const pod = `${a.podNamespace}/${a.podName}`;
      for (const direction of ['ingress', 'egress'] as const) isolation.set(objectId(`${pod}/${direction}`), { pod, direction });
    }
  }
  const nodes = new Map(o.nodeNames.map((n) => [nodeCookieId(n), n] as const));
  return { pods, nodes, rules: o.rules, isolation, isolatingPolicies: o.isolatingPolicies ?? (() => []) };
}

export function ruleText(r: RuleRef): string {
  return `NetworkPolicy ${r.namespace}/${r.name} ${r.direction} rule ${r.index}`;
}

export function isolationText(pod: string, direction: Direction, policies: string[]): string {
  const by = policies.length > 0 ? ` by ${policies.join(', ')}` : '';
  return `default deny (pod ${pod} is isolated for ${direction}${by})`;
}

/** What produced a flow with this cookie. */
export function ownerOf(cookie: bigint, idx: OwnerIndex): FlowOwner {
  const audit = decodeAuditCookie(cookie);
  if (audit) return { kind: 'audit', text: `policy audit (${audit.verdict} ${audit.direction})` };
  const d = decodeCookie(cookie);
  if (!d.loom) return { kind: 'foreign', text: `not a Loom flow (cookie 0x${cookie.toString(16)})` };
  switch (d.kind) {
    case CookieKind.Pipeline:
      return { kind: 'pipeline', text: d.id === 1 ? 'pipeline (tunnel)' : 'pipeline' };
    case CookieKind.Pod: {
      const pod = idx.pods.get(d.id);
      return pod ? { kind: 'pod', text: `pod ${pod}`, pod } : { kind: 'pod', text: `pod (unknown id 0x${d.id.toString(16)})` };
    }
    case CookieKind.Node: {
      const node = idx.nodes.get(d.id);
      return { kind: 'node', text: node ? `node ${node}` : `remote node (unknown id 0x${d.id.toString(16)})` };
    }
    case CookieKind.PolicyRule: {
      if (d.id === STATIC_COOKIE_ID) return { kind: 'policy-static', text: 'policy stage (established connections, traffic from this node)' };
      const r = idx.rules.get(d.id);
      return r
        ? { kind: 'policy-rule', text: ruleText(r), policy: `${r.namespace}/${r.name}` }
        : { kind: 'policy-rule', text: `NetworkPolicy rule (unknown id ${d.id})` };
    }
    case CookieKind.PolicyIsolation: {
      const iso = idx.isolation.get(d.id);
      if (!iso) return { kind: 'policy-isolation', text: 'default deny (isolated pod)' };
      return { kind: 'policy-isolation', text: isolationText(iso.pod, iso.direction, idx.isolatingPolicies(iso.pod, iso.direction)), pod: iso.pod };
    }
    default:
      return { kind: 'foreign', text: `Loom flow of unknown kind ${d.kind}` };
  }
}
