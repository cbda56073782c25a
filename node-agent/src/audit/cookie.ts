// Cookies of the policy-audit flows. They use their own magic ("LA") so the agent's cookie rounds
// (FlowSync resync deletes stale Loom "LM" rounds) never touch them; the audit controller owns them.
//   [63..48] 0x4c41  [39..32] kind (1 allow-egress, 2 allow-ingress, 3 deny-egress, 4 deny-ingress)  [31..0] pod id
import type { Direction } from '../policy/types.js';

export const AUDIT_COOKIE_MAGIC = 0x4c41n; // "LA"
export const AUDIT_COOKIE_MASK = 0xffff_0000_0000_0000n;

export type AuditVerdict = 'allow' | 'deny';

const KINDS: Array<{ verdict: AuditVerdict; direction: Direction }> = [
  { verdict: 'allow', direction: 'egress' },
  { verdict: 'allow', direction: 'ingress' },
  { verdict: 'deny', direction: 'egress' },
  { verdict: 'deny', direction: 'ingress' },
];

export function auditCookie(verdict: AuditVerdict, direction: Direction, podId: number): bigint {
  const kind = KINDS.findIndex((k) => k.verdict === verdict && k.direction === direction) + 1;
  return (AUDIT_COOKIE_MAGIC << 48n) | (BigInt(kind) << 32n) | BigInt(podId >>> 0);
}

export function decodeAuditCookie(c: bigint): { verdict: AuditVerdict; direction: Direction; podId: number } | undefined {
  if (c >> 48n !== AUDIT_COOKIE_MAGIC) return undefined;
  const k = KINDS[Number((c >> 32n) & 0xffn) - 1];
  if (!k) return undefined;
  return { ...k, podId: Number(c & 0xffff_ffffn) };
}
