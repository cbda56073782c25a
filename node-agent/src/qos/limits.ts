// A pod's desired bandwidth limits, from its annotations (the Pod object the agent watches) or from
// the CNI runtimeConfig `bandwidth` capability, and the shaper parameters derived from them.
// Pure: no I/O. Ingress = traffic into the pod, egress = traffic out of the pod.
import type { BandwidthRuntimeConfig } from '../../../cni-binary/src/spec.js';
import { checkBandwidthBps, formatBps, parseBandwidth } from './quantity.js';

export const INGRESS_BANDWIDTH_ANNOTATION = 'kubernetes.io/ingress-bandwidth';
export const EGRESS_BANDWIDTH_ANNOTATION = 'kubernetes.io/egress-bandwidth';
/** containerd sends this burst (MaxUint32 bits) when the pod asks for none: it means "unset". */
export const UNSET_BURST_BITS = 4294967295;
/** Default burst = the rate over this many milliseconds (enough for TCP to reach the limit). */
export const BURST_LATENCY_MS = 25;
/** TBF queue: up to this much queueing delay at the rate (as the reference bandwidth plugin). */
export const TBF_LATENCY_MS = 25;
/** Smallest burst: a few full-size frames, so a single GSO segment train never stalls. */
export const MIN_BURST_BYTES = 4 * 1514;
/** Largest burst/queue sizes (tc sizes are 32-bit). */
export const MAX_BURST_BYTES = 256 * 1024 * 1024;

/** Desired limits; an absent rate means that direction is unlimited. Bursts are in bits. */
export interface PodBandwidth {
  ingressBps?: number;
  egressBps?: number;
  ingressBurstBits?: number;
  egressBurstBits?: number;
}

/** Limits from the Pod's annotations ({} when it has none). Throws BandwidthValueError naming the annotation. */
export function bandwidthFromAnnotations(annotations: Readonly<Record<string, string>> | undefined): PodBandwidth {
  const bw: PodBandwidth = {};
  const ingress = annotations?.[INGRESS_BANDWIDTH_ANNOTATION];
  const egress = annotations?.[EGRESS_BANDWIDTH_ANNOTATION];
  if (ingress !== undefined) bw.ingressBps = parseBandwidth(INGRESS_BANDWIDTH_ANNOTATION, ingress);
  if (egress !== undefined) bw.egressBps = parseBandwidth(EGRESS_BANDWIDTH_ANNOTATION, egress);
  return bw;
}

/** Limits from runtimeConfig.bandwidth (rates in bits/s, bursts in bits; 0 rate = unlimited). */
export function bandwidthFromRuntimeConfig(rc: BandwidthRuntimeConfig | undefined): PodBandwidth {
  const bw: PodBandwidth = {};
  if (!rc) return bw;
  if (rc.ingressRate) {
    bw.ingressBps = checkBandwidthBps('runtimeConfig.bandwidth.ingressRate', rc.ingressRate);
    if (isSetBurst(rc.ingressBurst)) bw.ingressBurstBits = rc.ingressBurst;
  }
  if (rc.egressRate) {
    bw.egressBps = checkBandwidthBps('runtimeConfig.bandwidth.egressRate', rc.egressRate);
    if (isSetBurst(rc.egressBurst)) bw.egressBurstBits = rc.egressBurst;
  }
  return bw;
}

function isSetBurst(bits: number | undefined): bits is number {
  return bits !== undefined && bits > 0 && bits < UNSET_BURST_BITS;
}

/**
 * The limits to enforce. When the agent knows the Pod object, its annotations are the source of
 * truth (so editing or removing them on a running pod takes effect); otherwise runtimeConfig.
 */
export function desiredBandwidth(src: { podAnnotations?: Readonly<Record<string, string>> | undefined; runtimeConfig?: BandwidthRuntimeConfig | undefined }): PodBandwidth {
  if (src.podAnnotations !== undefined) return bandwidthFromAnnotations(src.podAnnotations);
  return bandwidthFromRuntimeConfig(src.runtimeConfig);
}

export function isUnlimited(bw: PodBandwidth): boolean {
  return bw.ingressBps === undefined && bw.egressBps === undefined;
}

export function sameBandwidth(a: PodBandwidth, b: PodBandwidth): boolean {
  return a.ingressBps === b.ingressBps && a.egressBps === b.egressBps && a.ingressBurstBits === b.ingressBurstBits && a.egressBurstBits === b.egressBurstBits;
}

/** "ingress 10M, egress unlimited" for logs. */
export function describeBandwidth(bw: PodBandwidth): string {
  const one = (bps: number | undefined) => (bps === undefined ? 'unlimited' : `${formatBps(bps)}bit/s`);
  return `ingress ${one(bw.ingressBps)}, egress ${one(bw.egressBps)}`;
}

/** Burst in bytes: the given one, else rate x BURST_LATENCY_MS; within MIN..MAX_BURST_BYTES. */
export function burstBytes(rateBps: number, burstBits?: number): number {
  const wanted = burstBits !== undefined ? Math.ceil(burstBits / 8) : Math.ceil((rateBps * BURST_LATENCY_MS) / 8000);
  return Math.min(MAX_BURST_BYTES, Math.max(MIN_BURST_BYTES, wanted));
}

/** Token bucket (egress, on the pod's interface): rate bits/s, burst and queue limit in bytes. */
export interface TbfParams {
  rateBps: number;
  burstBytes: number;
  limitBytes: number;
}

export function tbfParams(rateBps: number, burstBits?: number): TbfParams {
  const burst = burstBytes(rateBps, burstBits);
  const queue = Math.ceil((rateBps * TBF_LATENCY_MS) / 8000);
  return { rateBps, burstBytes: burst, limitBytes: Math.min(2 * MAX_BURST_BYTES, burst + Math.max(queue, MIN_BURST_BYTES)) };
}

/** `tc` arguments that install (or replace) the TBF as the root qdisc of `ifname`. */
export function tbfCommand(ifname: string, p: TbfParams): string[] {
  return ['qdisc', 'replace', 'dev', ifname, 'root', 'tbf', 'rate', `${p.rateBps}bit`, 'burst', String(p.burstBytes), 'limit', String(p.limitBytes)];
}

/** OVS linux-htb QoS (ingress, on the pod's OVS port): max-rate and burst in bits as OVS wants them. */
export interface HtbParams {
  maxRateBps: number;
  burstBits: number;
}

export function htbParams(rateBps: number, burstBits?: number): HtbParams {
  return { maxRateBps: rateBps, burstBits: burstBytes(rateBps, burstBits) * 8 };
}
