// Loom's Prometheus series on a private registry (never prom-client's global one, so tests and
// several agents in one process do not collide).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const CNI_VERBS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type CniVerbLabel = (typeof CNI_VERBS)[number];
/** "success", or "error" for any CNI error result. */
export type CniResultLabel = 'success' | 'error';

export interface LoomMetrics {
  registry: Registry;
  /** loom_cni_requests_total{verb,result} */
  cniRequests: Counter<'verb' | 'result'>;
  /** loom_cni_request_duration_seconds{verb} */
  cniRequestDuration: Histogram<'verb'>;
  /** loom_pods: pods attached to OVS on this node */
  pods: Gauge;
  /** loom_ovs_flows{table}: installed flows per table name */
  ovsFlows: Gauge<'table'>;
  /** loom_policy_rules: NetworkPolicy rules realized on this node */
  policyRules: Gauge;
  /** loom_policy_realization_seconds: policy change seen -> flows installed */
  policyRealization: Histogram;
  /** loom_tunnel_peers: remote nodes with a tunnel flow */
  tunnelPeers: Gauge;
  /** loom_ovs_connected: 1 while OVSDB and OpenFlow are reachable */
  ovsConnected: Gauge;
  /** loom_errors_total{component} */
  errors: Counter<'component'>;
}

export interface CreateMetricsOptions {
  /** Add process_* and nodejs_* series (default true; tests may switch it off). */
  defaultMetrics?: boolean;
}

export function createMetrics(options: CreateMetricsOptions = {}): LoomMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    cniRequests: new Counter({
      name: 'loom_cni_requests_total', help: 'CNI requests handled by the agent, by verb and result',
      labelNames: ['verb', 'result'], registers,
    }),
    cniRequestDuration: new Histogram({
      name: 'loom_cni_request_duration_seconds', help: 'Time the agent spent on a CNI request, by verb',
      labelNames: ['verb'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers,
    }),
    pods: new Gauge({ name: 'loom_pods', help: 'Pods attached to OVS on this node', registers }),
    ovsFlows: new Gauge({ name: 'loom_ovs_flows', help: 'OpenFlow flows installed by Loom, by table', labelNames: ['table'], registers }),
    policyRules: new Gauge({ name: 'loom_policy_rules', help: 'NetworkPolicy rules realized on this node', registers }),
    policyRealization: new Histogram({
      name: 'loom_policy_realization_seconds', help: 'Time from a NetworkPolicy/Pod/Namespace change to its flows being installed',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10], registers,
    }),
    tunnelPeers: new Gauge({ name: 'loom_tunnel_peers', help: 'Remote nodes reachable through the tunnel', registers }),
    ovsConnected: new Gauge({ name: 'loom_ovs_connected', help: '1 while the agent is connected to OVSDB and ovs-vswitchd, else 0', registers }),
    errors: new Counter({ name: 'loom_errors_total', help: 'Errors by agent component', labelNames: ['component'], registers }),
  };
}
