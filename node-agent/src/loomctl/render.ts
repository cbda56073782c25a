// Terminal rendering of the debug API's answers: aligned tables and the trace path in plain words.
import type { FlowsResponse, PodPoliciesResponse, PodsResponse, TraceResult } from '../debugapi/types.js';

/** Left-aligned columns separated by two spaces; empty cells print "-". */
export function table(headers: string[], rows: string[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === '' ? '-' : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ').trimEnd()).join('\n') + '\n';
}

export function formatBps(bps: number | undefined): string {
  if (bps === undefined) return '';
  for (const [f, u] of [[1e9, 'Gbit/s'], [1e6, 'Mbit/s'], [1e3, 'kbit/s']] as const) if (bps >= f) return `${+(bps / f).toFixed(2)} ${u}`;
  return `${bps} bit/s`;
}

export function renderPods(r: PodsResponse): string {
  if (r.pods.length === 0) return `no pods on node ${r.node}\n`;
  const rows = r.pods.map((p) => [
    p.namespace && p.name ? `${p.namespace}/${p.name}` : `(container ${p.containerId.slice(0, 12)})`,
    p.ip,
    p.mac,
    `${p.ofport} ${p.hostIfname}`,
    formatBps(p.limits.ingressBps),
    formatBps(p.limits.egressBps),
    [p.isolation.ingress ? 'ingress' : '', p.isolation.egress ? 'egress' : ''].filter(Boolean).join('+') || 'none',
    p.policies.join(','),
    p.audited ? 'yes' : '',
  ]);
  return `node ${r.node}\n` + table(['POD', 'IP', 'MAC', 'OVS PORT', 'IN LIMIT', 'OUT LIMIT', 'ISOLATED', 'POLICIES', 'AUDIT'], rows);
}

export function renderPolicies(r: PodPoliciesResponse): string {
  const lines = [`pod ${r.pod}${r.ip ? ` (${r.ip})` : ''} ${r.local ? `on node ${r.node}` : `(not on node ${r.node})`}`];
  for (const dir of ['ingress', 'egress'] as const) {
    const by = r.isolation[dir];
    lines.push(`  ${dir}: ${by.length === 0 ? 'not isolated: everything is allowed' : `isolated by ${by.join(', ')}: only the rules below allow traffic`}`);
  }
  if (r.policies.length === 0) return lines.join('\n') + '\n  no NetworkPolicy selects this pod\n';
  for (const p of r.policies) {
    lines.push('', `NetworkPolicy ${p.namespace}/${p.name} (isolates ${p.isolates.join(' and ') || 'nothing'})`);
    if (p.rules.length === 0) lines.push('  no rules: denies everything in the directions it isolates');
    for (const rule of p.rules) {
      const peer = rule.direction === 'ingress' ? 'from' : 'to';
      lines.push(`  ${rule.direction} rule ${rule.index}: ${peer} ${rule.peers}; ports ${rule.ports}${rule.conjIds.length ? ` [conj ${rule.conjIds.join(',')}]` : ''}`);
    }
    for (const w of p.warnings) lines.push(`  warning: ${w}`);
  }
  return lines.join('\n') + '\n';
}

export function renderFlows(r: FlowsResponse): string {
  if (r.flows.length === 0) return `no flows match on node ${r.node}\n`;
  const rows = r.flows.map((f) => [`${f.table} ${f.tableName}`, String(f.priority), f.match || '(any)', f.actions, f.owner.text, f.packets === undefined ? '' : String(f.packets)]);
  return table(['TABLE', 'PRIO', 'MATCH', 'ACTIONS', 'BELONGS TO', 'PACKETS'], rows);
}

function endpointText(e: TraceResult['src']): string {
  const where = e.local ? 'this node' : e.node ? `node ${e.node}` : 'outside the cluster';
  return `${e.pod ? `pod ${e.pod} (${e.ip})` : e.ip} on ${where}`;
}

export function renderTrace(r: TraceResult, opts: { verbose?: boolean } = {}): string {
  const lines = [
    `trace on node ${r.node}`,
    `  from ${endpointText(r.src)}`,
    `  to   ${endpointText(r.dst)}`,
    '',
  ];
  r.steps.forEach((s, i) => {
    lines.push(`${String(i + 1).padStart(2)}. [${s.table} ${s.tableName}] ${s.text}`);
    if (opts.verbose) lines.push(`      flow: ${s.match || '(any)'} priority ${s.priority} cookie ${s.cookie}; ${s.actions.join(', ')}`);
  });
  lines.push('');
  for (const d of r.decisions) lines.push(`${d.direction} policy: ${d.text}`);
  lines.push(`verdict: ${r.verdict.toUpperCase()} - ${r.reason}`);
  if (r.continuesOn) lines.push(r.continuesOn.hint);
  return lines.join('\n') + '\n';
}
