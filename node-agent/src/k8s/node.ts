// This node's Kubernetes identity: podCIDR and addresses from the Node object.
import * as k8s from '@kubernetes/client-node';
import { errorMessage, logger } from '../util/log.js';

const log = logger('k8s');

export function loadKubeConfig(kubeconfig: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (kubeconfig === '') kc.loadFromCluster();
  else kc.loadFromFile(kubeconfig);
  return kc;
}

export interface NodeInfo {
  podCidr: string | undefined;
  internalIp: string | undefined;
}

export function nodeInfoOf(node: k8s.V1Node): NodeInfo {
  const cidrs = node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
  const podCidr = cidrs.find((c) => !c.includes(':'));
  const internalIp = node.status?.addresses?.find((a) => a.type === 'InternalIP' && !a.address.includes(':'))?.address;
  return { podCidr, internalIp };
}

/** Wait until the Node exists and has an IPv4 podCIDR (the controller-manager assigns it). */
export async function waitForNodePodCidr(kc: k8s.KubeConfig, nodeName: string, signal?: AbortSignal): Promise<NodeInfo> {
  const api = kc.makeApiClient(k8s.CoreV1Api);
  let delay = 200;
  for (;;) {
    if (signal?.aborted) throw new Error('aborted');
    try {
      const node = await api.readNode({ name: nodeName });
      const info = nodeInfoOf(node);
      if (info.podCidr) return info;
      log.warn('node has no IPv4 podCIDR yet; waiting', { node: nodeName });
    } catch (e) {
      log.warn('cannot read this node from the API server; retrying', { node: nodeName, error: errorMessage(e) });
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5000);
  }
}
