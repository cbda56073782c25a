// GET /v1/pods, /v1/pods/{ns}/{name}/policies, /v1/flows: the agent's state in plain words.
import type * as k8s from '@kubernetes/client-node';
import { TABLE_NAMES } from '../pipeline/flow.js';
import { AUDIT_ANNOTATION, namespaceAudited } from '../audit/annotation.js';
import { podInfoOf } from '../agent/policy-controller.js';
import { remoteNodesOf } from '../agent/overlay.js';
import { buildOwnerIndex, ownerOf } from './owners.js';
import { isolatingPolicies, policyViews, selectingPolicies } from './policies.js';
import type { AgentIntrospection, FlowsResponse, PodLimits, PodPoliciesResponse, PodsResponse, PodView } from './types.js';

export class NotFoundError extends Error {}

const QUANTITY_RE = /^(\d+(?:\.\d+)?)([kMGTPE]?)$/;
const FACTOR: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** Bandwidth annotation value (bits/s, e.g. "10M") -> number; undefined when unparsable. */
export function bandwidthBps(v: string | undefined): number | undefined {
  const m = v ? QUANTITY_RE.exec(v.trim()) : null;
  return m ? Number(m[1]) * (FACTOR[m[2] as string] as number) : undefined;
}

function limitsOf(pod: k8s.V1Pod | undefined): PodLimits {
  const ann = pod?.metadata?.annotations ?? {};
  const ing = ann['kubernetes.io/ingress-bandwidth'];
  const eg = ann['kubernetes.io/egress-bandwidth'];
  const out: PodLimits = {};
  const ib = bandwidthBps(ing);
  const eb = bandwidthBps(eg);
  if (ing) out.ingressText = ing;
  if (eg) out.egressText = eg;
  if (ib !== undefined) out.ingressBps = ib;
  if (eb !== undefined) out.egressBps = eb;
  return out;
}

function podObject(agent: AgentIntrospection, ns: string, name: string): k8s.V1Pod | undefined {
  return agent.pods().find((p) => p.metadata?.namespace === ns && p.metadata?.name === name);
}

function namespaceObject(agent: AgentIntrospection, ns: string): k8s.V1Namespace | undefined {
  return agent.namespaces().find((n) => n.metadata?.name === ns);
}

export function podsView(agent: AgentIntrospection): PodsResponse {
  const policies = agent.networkPolicies();
  const pods: PodView[] = agent.attachments().map((a) => {
    const ns = a.podNamespace ?? '';
    const name = a.podName ?? '';
    const obj = ns && name ? podObject(agent, ns, name) : undefined;
    const labels = obj?.metadata?.labels ?? {};
    const selecting = ns ? selectingPolicies(policies, ns, labels) : [];
    return {
      namespace: ns,
      name,
      containerId: a.containerId,
      ip: a.ip,
      mac: a.mac,
      ofport: a.ofport,
      hostIfname: a.hostIfname,
      limits: limitsOf(obj),
      isolation: { ingress: selecting.some((s) => s.isolates.includes('ingress')), egress: selecting.some((s) => s.isolates.includes('egress')) },
      policies: selecting.map((s) => s.key),
      audited: namespaceAudited(namespaceObject(agent, ns)),
    };
  });
  pods.sort((x, y) => `${x.namespace}/${x.name}`.localeCompare(`${y.namespace}/${y.name}`));
  return { node: agent.nodeName, pods };
}

export function podPoliciesView(agent: AgentIntrospection, ns: string, name: string): PodPoliciesResponse {
  const local = agent.attachments().find((a) => a.podNamespace === ns && a.podName === name);
  const obj = podObject(agent, ns, name);
  if (!local && !obj) throw new NotFoundError(`pod ${ns}/${name} is not on node ${agent.nodeName} and not in the agent's pod cache`);
  const labels = obj?.metadata?.labels ?? {};
  const policies = agent.networkPolicies();
  const ip = local?.ip ?? (obj ? podInfoOf(obj)?.ips[0] : undefined);
  return {
    node: agent.nodeName,
    pod: `${ns}/${name}`,
    ...(ip ? { ip } : {}),
    local: !!local,
    isolation: {
      ingress: isolatingPolicies(policies, ns, labels, 'ingress'),
      egress: isolatingPolicies(policies, ns, labels, 'egress'),
    },
    policies: policyViews(selectingPolicies(policies, ns, labels), agent.ruleIndex()),
  };
}

export interface FlowFilter {
  /** "ns/name": only flows owned by the pod, its isolation and the rules of policies selecting it */
  pod?: string;
  table?: number;
}

export async function flowsView(agent: AgentIntrospection, filter: FlowFilter): Promise<FlowsResponse> {
  const attachments = agent.attachments();
  const owners = buildOwnerIndex({ attachments, nodeNames: [...remoteNodesOf(agent.nodes(), agent.nodeName).keys()], rules: agent.ruleIndex() });
  let podPolicies: Set<string> | undefined;
  let podIp: string | undefined;
  if (filter.pod) {
    const [ns, name] = filter.pod.split('/') as [string, string];
    const p = podPoliciesView(agent, ns, name);
    podPolicies = new Set(p.policies.map((x) => `${x.namespace}/${x.name}`));
    podIp = p.ip;
  }
  const flows = (await agent.dumpFlows())
    .filter((f) => filter.table === undefined || f.table === filter.table)
    .map((f) => {
      const owner = ownerOf(f.cookie, owners);
      return {
        table: f.table,
        tableName: TABLE_NAMES[f.table] ?? String(f.table),
        priority: f.priority,
        match: f.match,
        actions: f.actions,
        cookie: `0x${f.cookie.toString(16)}`,
        ...(f.nPackets !== undefined ? { packets: f.nPackets } : {}),
        owner,
      };
    })
    .filter((f) => {
      if (!filter.pod) return true;
      if (f.owner.pod === filter.pod) return true;
      if (f.owner.policy && podPolicies?.has(f.owner.policy)) return true;
      // clause flows shared by several rules carry one rule's cookie: keep those naming the pod's IP
      return podIp !== undefined && new RegExp(`nw_(src|dst)=${podIp.replace(/\./g, '\\.')}(,|$)`).test(f.match);
    });
  return { node: agent.nodeName, flows };
}

export { AUDIT_ANNOTATION };
