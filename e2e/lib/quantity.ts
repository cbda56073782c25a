// Kubernetes resource quantities (the subset bandwidth annotations use) and the bandwidth
// annotations as kubelet/containerd turn them into CNI runtimeConfig.
const SUFFIX: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** Parses `10M`, `1.5G`, `500k`, `1Mi`, `2e6` into a number; throws on anything else. */
export function parseQuantity(text: string): number {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?)$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a Kubernetes quantity (examples: 10M, 1G, 500k, 1Mi)`);
  const base = Number(m[1]);
  if (m[2] !== undefined) return base * 10 ** Number(m[2].slice(1));
  return base * (SUFFIX[m[3] ?? ''] ?? 1);
}

export const INGRESS_BANDWIDTH_ANNOTATION = 'kubernetes.io/ingress-bandwidth';
export const EGRESS_BANDWIDTH_ANNOTATION = 'kubernetes.io/egress-bandwidth';
/** containerd sets the burst to MaxUint32 bits. */
const DEFAULT_BURST = 4294967295;
const MIN_BANDWIDTH = 1e3;
const MAX_BANDWIDTH = 1e15;

/** runtimeConfig.bandwidth exactly as containerd's CRI plugin sends it (PascalCase). */
export interface CniBandwidth {
  IngressRate?: number;
  IngressBurst?: number;
  EgressRate?: number;
  EgressBurst?: number;
}

function rate(annotation: string, text: string): number {
  const bits = Math.trunc(parseQuantity(text));
  if (bits < MIN_BANDWIDTH || bits > MAX_BANDWIDTH) throw new Error(`${annotation}="${text}" is outside 1k..1P bits/s (kubelet rejects it)`);
  return bits;
}

/** The bandwidth runtimeConfig for a pod's annotations, or undefined when it has none. */
export function bandwidthFromAnnotations(annotations: Record<string, string> | undefined): CniBandwidth | undefined {
  const ingress = annotations?.[INGRESS_BANDWIDTH_ANNOTATION];
  const egress = annotations?.[EGRESS_BANDWIDTH_ANNOTATION];
  if (ingress === undefined && egress === undefined) return undefined;
  const bw: CniBandwidth = {};
  if (ingress !== undefined) {
    bw.IngressRate = rate(INGRESS_BANDWIDTH_ANNOTATION, ingress);
    bw.IngressBurst = DEFAULT_BURST;
  }
  if (egress !== undefined) {
    bw.EgressRate = rate(EGRESS_BANDWIDTH_ANNOTATION, egress);
    bw.EgressBurst = DEFAULT_BURST;
  }
  return bw;
}
