// Pure: a parsed ofproto/trace + what the agent knows -> the path in plain words and the verdict,
// naming the NetworkPolicy rule or the default-deny isolation that decided.
import { CookieKind, decodeCookie } from '../pipeline/cookie.js';
import { TABLE_NAMES, Table } from '../pipeline/flow.js';
import { STATIC_COOKIE_ID } from '../policy/flows.js';
import type { Direction } from '../policy/types.js';
import { decodeAuditCookie } from '../audit/cookie.js';
import { isolationText, ownerOf, ruleText, type OwnerIndex } from './owners.js';
import { outputPort, pathSteps, type ParsedStep, type ParsedTrace } from './trace-parse.js';
import type { FlowOwner, PolicyDecision, TraceStep, Verdict } from './types.js';

export interface ExplainContext {
  owners: OwnerIndex;
  /** ofport -> plain name ("pod x/a", "gateway loom-gw0", "tunnel") */
  portNames: Map<number, string>;
  tunnelOfport?: number;
  /** remote node by tunnel endpoint IP */
  nodeByIp: Map<string, string>;
  /** local pod ("ns/name") by IP */
  podByIp: Map<string, string>;
}

/** Isolated pod named by an audit deny flow's match (nw_src for egress, nw_dst for ingress). */
function auditIsolation(s: ParsedStep, direction: Direction, ctx: ExplainContext): { pod: string; policies: string[] } | undefined {
  const m = new RegExp(`${direction === 'egress' ? 'nw_src' : 'nw_dst'}=([0-9.]+)`).exec(s.match);
  const pod = m ? ctx.podByIp.get(m[1] as string) : undefined;
  return pod ? { pod, policies: ctx.owners.isolatingPolicies(pod, direction) } : undefined;
}

export interface Explanation {
  steps: TraceStep[];
  verdict: Verdict;
  reason: string;
  decisions: PolicyDecision[];
  output?: string;
  outputPort?: number;
  /** remote node the packet is tunnelled to */
  tunnelTo?: { node: string; nodeIp: string };
}

const tableName = (t: number) => TABLE_NAMES[t] ?? `table ${t}`;
const drops = (s: ParsedStep) => s.actions.length === 0 || s.actions.includes('drop');
const ruleDirection: Record<number, Direction> = { [Table.EgressRule]: 'egress', [Table.EgressDefault]: 'egress', [Table.IngressRule]: 'ingress', [Table.IngressDefault]: 'ingress' };

function setFieldValue(s: ParsedStep, field: string): string | undefined {
  for (const a of s.actions) {
    const m = new RegExp(`^set_field:([^-]+)->${field}$`).exec(a);
    if (m) return m[1];
  }
  return undefined;
}

function stepText(s: ParsedStep, owner: FlowOwner, ctx: ExplainContext): string {
  const kind = decodeCookie(s.cookie ?? 0n);
  const isMiss = s.noMatch || (owner.kind === 'pipeline' && s.priority === 0);
  if (s.noMatch) return 'no flow matches: dropped';
  switch (s.table) {
    case Table.Classifier:
      if (drops(s)) return 'unknown input port: dropped';
      if (owner.kind === 'pod') return `comes from ${owner.text}`;
      if (s.match.includes('arp')) return 'ARP from the gateway';
      return owner.text === 'pipeline (tunnel)' ? 'comes from the tunnel (another node)' : 'comes from the gateway (this node or outside the cluster)';
    case Table.SpoofGuard:
      return drops(s) ? 'source MAC/IP do not belong to the input port: dropped by spoofguard' : `source MAC and IP are those of ${owner.pod ? `pod ${owner.pod}` : 'the port'}`;
    case Table.ArpResponder:
      return drops(s) ? 'ARP request for an unknown address: dropped' : `ARP answered (${owner.text})`;
    case Table.Conntrack:
      return drops(s) && !s.actions.some((a) => a.startsWith('ct(')) ? 'not IP: dropped' : 'looked up in conntrack (the trace treats it as a new connection)';
    case Table.ConntrackState:
      return drops(s) ? 'invalid conntrack state: dropped' : 'connection state is valid';
    case Table.EgressRule:
    case Table.IngressRule: {
      const dir = ruleDirection[s.table] as Direction;
      if (owner.kind === 'policy-rule') return `${dir} allowed by ${owner.text.replace(/^NetworkPolicy /, 'NetworkPolicy ')}`;
      if (owner.kind === 'policy-static') return s.match.includes('ct_state=-new') ? `established connection: ${dir} policy skipped` : 'traffic from this node to its pods: always allowed';
      return isMiss ? `no ${dir} rule allows it explicitly` : owner.text;
    }
    case Table.EgressDefault:
    case Table.IngressDefault: {
      const dir = ruleDirection[s.table] as Direction;
      if (owner.kind === 'policy-isolation') return `dropped by ${owner.text}`;
      if (owner.kind === 'audit') {
        const iso = auditIsolation(s, dir, ctx);
        return `dropped by ${iso ? isolationText(iso.pod, dir, iso.policies) : `default deny (${dir})`}; logged by policy audit`;
      }
      return isMiss ? `${dir} not isolated: allowed` : owner.text;
    }
    case Table.L3Forwarding: {
      if (owner.kind === 'node') return `routed to ${owner.text} through the tunnel (tun_dst=${setFieldValue(s, 'tun_dst') ?? '?'}), TTL decremented`;
      if (owner.kind === 'pod') return `routed to ${owner.text} (MACs rewritten, TTL decremented)`;
      if (owner.text === 'pipeline (tunnel)') return "routed to this node's gateway";
      return isMiss ? 'not routed (same subnet, or towards the gateway)' : owner.text;
    }
    case Table.L2Forwarding: {
      if (drops(s)) return 'destination MAC is unknown on this bridge: dropped';
      const port = Number(setFieldValue(s, 'reg1') ?? NaN);
      const name = ctx.portNames.get(port);
      return `destination is ${name ?? `port ${port}`}`;
    }
    case Table.ConntrackCommit:
      if (decodeAuditCookie(s.cookie ?? 0n)) return 'new connection committed to conntrack and logged by policy audit';
      return s.actions.some((a) => a.startsWith('ct(commit')) ? 'new connection committed to conntrack (allowing rule ids kept in ct_label)' : 'not a new connection';
    case Table.Output: {
      const port = outputOf(s);
      return port === undefined ? 'not output: dropped' : `output to ${ctx.portNames.get(port) ?? `port ${port}`}`;
    }
    default:
      return `${owner.text}${kind.loom ? '' : ''}`;
  }
}

function outputOf(s: ParsedStep): number | undefined {
  for (const n of s.notes) {
    const m = /^output port is (\d+)/.exec(n);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** How the policy stage of each direction decided, from the steps in tables 30/35/60/65. */
function decisionsOf(steps: Array<{ parsed: ParsedStep; owner: FlowOwner }>, ctx: ExplainContext): PolicyDecision[] {
  const owners = ctx.owners;
  const out: PolicyDecision[] = [];
  for (const direction of ['egress', 'ingress'] as const) {
    const ruleTable = direction === 'egress' ? Table.EgressRule : Table.IngressRule;
    const defTable = direction === 'egress' ? Table.EgressDefault : Table.IngressDefault;
    const rule = steps.find((s) => s.parsed.table === ruleTable);
    const def = steps.find((s) => s.parsed.table === defTable);
    if (!rule) continue; // the packet never reached this direction's policy stage
    const d = decodeCookie(rule.parsed.cookie ?? 0n);
    if (d.loom && d.kind === CookieKind.PolicyRule && d.id !== STATIC_COOKIE_ID) {
      const r = owners.rules.get(d.id);
      out.push(r
        ? { direction, kind: 'rule', text: `allowed by ${ruleText(r)}`, namespace: r.namespace, name: r.name, ruleIndex: r.index }
        : { direction, kind: 'rule', text: `allowed by NetworkPolicy rule id ${d.id} (no longer known to the agent)` });
      continue;
    }
    if (d.loom && d.kind === CookieKind.PolicyRule) {
      out.push(rule.parsed.match.includes('ct_state=-new')
        ? { direction, kind: 'established', text: 'established connection: policy skipped' }
        : { direction, kind: 'from-node', text: 'from this node: always allowed' });
      continue;
    }
    if (def && (drops(def.parsed) || def.owner.kind === 'policy-isolation' || def.owner.kind === 'audit')) {
      const dd = decodeCookie(def.parsed.cookie ?? 0n);
      const known = dd.loom && dd.kind === CookieKind.PolicyIsolation ? owners.isolation.get(dd.id) : undefined;
      const iso = known ? { pod: known.pod, policies: owners.isolatingPolicies(known.pod, direction) } : auditIsolation(def.parsed, direction, ctx);
      const text = iso ? isolationText(iso.pod, direction, iso.policies) : `default deny (${direction})`;
      out.push({ direction, kind: 'isolation', text, ...(iso ? { pod: iso.pod, policies: iso.policies } : {}) });
      continue;
    }
    out.push({ direction, kind: 'open', text: `no policy isolates the pod for ${direction}` });
  }
  return out;
}

export function explainTrace(t: ParsedTrace, ctx: ExplainContext): Explanation {
  const parsed = pathSteps(t);
  const annotated = parsed.map((p) => ({ parsed: p, owner: p.cookie === undefined ? ({ kind: 'foreign', text: 'table miss' } as FlowOwner) : ownerOf(p.cookie, ctx.owners) }));
  const steps: TraceStep[] = annotated.map(({ parsed: p, owner }) => ({
    table: p.table,
    tableName: tableName(p.table),
    match: p.match,
    priority: p.priority,
    cookie: p.cookie === undefined ? '' : `0x${p.cookie.toString(16)}`,
    owner,
    actions: p.actions,
    text: stepText(p, owner, ctx),
  }));
  const decisions = decisionsOf(annotated, ctx);
  const port = outputPort(t);
  const last = annotated[annotated.length - 1];
  if (port === undefined || !last) {
    const decisive = [...annotated].reverse().find((s) => drops(s.parsed) && !s.parsed.actions.some((a) => a.startsWith('ct(table'))) ?? last;
    const iso = decisions.find((d) => d.kind === 'isolation');
    const reason = iso ? `dropped by ${iso.text}` : decisive ? `dropped in ${tableName(decisive.parsed.table)}: ${stepText(decisive.parsed, decisive.owner, ctx)}` : 'dropped (no table visited)';
    return { steps, verdict: 'dropped', reason, decisions };
  }
  const output = ctx.portNames.get(port) ?? `port ${port}`;
  const why = decisions.map((d) => `${d.direction}: ${d.text}`).join('; ');
  const res: Explanation = { steps, verdict: 'allowed', reason: `allowed, output to ${output}${why ? ` (${why})` : ''}`, decisions, output, outputPort: port };
  if (ctx.tunnelOfport !== undefined && port === ctx.tunnelOfport) {
    const tunDst = [...annotated].reverse().map((s) => setFieldValue(s.parsed, 'tun_dst')).find((x) => x !== undefined);
    if (tunDst) res.tunnelTo = { nodeIp: tunDst, node: ctx.nodeByIp.get(tunDst) ?? '' };
  }
  return res;
}
