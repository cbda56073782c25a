// Pure: a packet-in of an audit flow -> one structured audit log record.
import type { Direction, RuleIndex } from '../policy/types.js';
import { decodeAuditCookie } from './cookie.js';
import type { PacketIn } from './packetin.js';

export interface AuditRuleRef {
  namespace: string;
  name: string;
  direction: Direction;
  index: number;
}

export interface AuditRecord {
  time: string;
  node: string;
  /** allow: a new connection was let through; deny: it was dropped by default deny */
  verdict: 'allow' | 'deny';
  /** the audited pod's side: egress = the pod opened it, ingress = the pod receives it */
  direction: Direction;
  pod: string;
  protocol: string;
  src: { ip: string; port?: number; pod?: string };
  dst: { ip: string; port?: number; pod?: string };
  /** allow: the rule that allowed each direction on this node, or "not isolated"/"not checked here" */
  egress?: AuditRuleRef | 'not isolated';
  ingress?: AuditRuleRef | 'not isolated' | 'checked on the destination node';
  /** deny: the policies isolating the pod in that direction */
  isolatedBy?: string[];
}

export interface RecordContext {
  node: string;
  rules: RuleIndex;
  /** local or cluster pod owning an IP ("ns/name") */
  podByIp: (ip: string) => string | undefined;
  /** local pod IP -> true when the pod is on this node */
  isLocal: (ip: string) => boolean;
  isolatingPolicies: (pod: string, direction: Direction) => string[];
  now?: () => Date;
}

function ruleRef(rules: RuleIndex, id: number | undefined): AuditRuleRef | 'not isolated' {
  const r = id ? rules.get(id) : undefined;
  return r ? { namespace: r.namespace, name: r.name, direction: r.direction, index: r.index } : 'not isolated';
}

/** undefined when the packet-in is not from an audit flow. */
export function auditRecord(p: PacketIn, ctx: RecordContext): AuditRecord | undefined {
  const c = decodeAuditCookie(p.cookie);
  if (!c) return undefined;
  const srcPod = ctx.podByIp(p.srcIp);
  const dstPod = ctx.podByIp(p.dstIp);
  const pod = (c.direction === 'egress' ? srcPod : dstPod) ?? (c.direction === 'egress' ? p.srcIp : p.dstIp);
  const rec: AuditRecord = {
    time: (ctx.now?.() ?? new Date()).toISOString(),
    node: ctx.node,
    verdict: c.verdict,
    direction: c.direction,
    pod,
    protocol: p.protocol,
    src: { ip: p.srcIp, ...(p.srcPort !== undefined ? { port: p.srcPort } : {}), ...(srcPod ? { pod: srcPod } : {}) },
    dst: { ip: p.dstIp, ...(p.dstPort !== undefined ? { port: p.dstPort } : {}), ...(dstPod ? { pod: dstPod } : {}) },
  };
  if (c.verdict === 'deny') {
    rec.isolatedBy = ctx.isolatingPolicies(pod, c.direction);
    return rec;
  }
  // Egress is decided on the source's node, ingress on the destination's.
  if (ctx.isLocal(p.srcIp)) rec.egress = ruleRef(ctx.rules, p.regs[2]);
  rec.ingress = ctx.isLocal(p.dstIp) ? ruleRef(ctx.rules, p.regs[3]) : 'checked on the destination node';
  return rec;
}
