// Pure: the extra flows that make audited pods' new connections visible to the agent as packet-ins.
//   allowed: table 70 (ConntrackCommit), above the commit flow, same commit actions plus controller()
//            egress (nw_src = pod) at 202, ingress (nw_dst = pod) at 201; reg2/reg3 carry the rule ids
//   denied:  tables 35/65 (default deny), above the pod's isolation drop: controller() only (= drop);
//            only where the policy compiler installed an isolation drop for the pod
// The `controller` meter (see monitor) and the agent's token bucket keep packet-ins bounded.
import { objectId } from '../pipeline/cookie.js';
import { Table, type Flow } from '../pipeline/flow.js';
import { baseFlows, type NodeNetwork } from '../pipeline/pipeline.js';
import { renderActions, renderCookie } from '../ovs/flow-syntax.js';
import type { Direction } from '../policy/types.js';
import { auditCookie } from './cookie.js';

export const AuditPriority = { AllowEgress: 202, AllowIngress: 201, Deny: 201 } as const;
/** Bytes of each packet sent to the agent: headers only. */
const MAX_LEN = 128;
const CONTROLLER = `controller(reason=action,max_len=${MAX_LEN})`;

export interface AuditedPod {
  /** "ns/name" */
  pod: string;
  ip: string;
  isolated: Record<Direction, boolean>;
}

/** One audit flow rendered for `ovs-ofctl bundle` ("flow add ..." without the verb). */
export interface AuditFlow {
  key: string;
  text: string;
  cookie: bigint;
}

const IP_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

export function podAuditId(pod: string): number {
  return objectId(`audit/${pod}`);
}

/** Actions of the pipeline's commit flow for new connections (so audited pods commit identically). */
export function commitActions(net: NodeNetwork): string {
  const f = baseFlows(net, 0).find((x: Flow) => x.table === Table.ConntrackCommit && x.match.ctState === '+new+trk');
  if (!f) throw new Error('the pipeline has no conntrack commit flow for new connections; audit logging cannot mirror it');
  return renderActions(f.actions, Table.ConntrackCommit);
}

export function auditFlows(net: NodeNetwork, pods: AuditedPod[]): AuditFlow[] {
  const commit = commitActions(net);
  const out: AuditFlow[] = [];
  const add = (table: number, priority: number, match: string, actions: string, cookie: bigint) => {
    const key = `${table}/${priority}/${match}`;
    out.push({ key, cookie, text: `table=${table},priority=${priority},cookie=${renderCookie(cookie)},${match} actions=${actions}` });
  };
  for (const p of pods) {
    if (!IP_RE.test(p.ip)) continue;
    const id = podAuditId(p.pod);
    add(Table.ConntrackCommit, AuditPriority.AllowEgress, `ct_state=+new+trk,ip,nw_src=${p.ip}`, `${CONTROLLER},${commit}`, auditCookie('allow', 'egress', id));
    add(Table.ConntrackCommit, AuditPriority.AllowIngress, `ct_state=+new+trk,ip,nw_dst=${p.ip}`, `${CONTROLLER},${commit}`, auditCookie('allow', 'ingress', id));
    if (p.isolated.egress) add(Table.EgressDefault, AuditPriority.Deny, `ip,nw_src=${p.ip}`, CONTROLLER, auditCookie('deny', 'egress', id));
    if (p.isolated.ingress) add(Table.IngressDefault, AuditPriority.Deny, `ip,nw_dst=${p.ip}`, CONTROLLER, auditCookie('deny', 'ingress', id));
  }
  return out;
}

/** Bundle text turning `installed` into `desired` (by key); "" when nothing changes. */
export function auditBundle(installed: Map<string, AuditFlow>, desired: AuditFlow[]): string {
  const want = new Map(desired.map((f) => [f.key, f]));
  const lines: string[] = [];
  for (const [key, f] of installed) {
    if (want.get(key)?.text === f.text) continue;
    if (!want.has(key)) {
      const [table, priority, match] = key.split('/') as [string, string, string];
      lines.push(`flow delete_strict table=${table},priority=${priority},${match}`);
    }
  }
  for (const [key, f] of want) if (installed.get(key)?.text !== f.text) lines.push(`flow add ${f.text}`);
  return lines.map((l) => `${l}\n`).join('');
}
