export { createMetrics, CNI_VERBS, type LoomMetrics, type CreateMetricsOptions, type CniVerbLabel, type CniResultLabel } from './registry.js';
export { startHttpEndpoints, type HttpEndpoints, type HttpEndpointsOptions, type ProbeResult } from './http.js';
