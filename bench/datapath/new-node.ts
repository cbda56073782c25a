// "A new remote node appears": adds a node to a running e2e cluster (the harness only starts nodes in
// startCluster, so this composes its node functions), creates a pod there, and pings it from a pod on
// node 1 at 50 packets/s right away. Nothing has been sent to the new node before, so the first pings
// also pay for the agents learning the node (tunnel flows) and OVS resolving the VTEP's MAC.
import { join } from 'node:path';
import type { Cluster } from '../../e2e/lib/cluster.js';
import { registerNode, startClusterNode, type ClusterNode } from '../../e2e/lib/cluster-node.js';
import { nodeNetns } from '../../e2e/lib/names.js';
import type { Pod } from '../../e2e/lib/pods.js';
import { ping } from './probes.js';

export interface NewNodeOutcome {
  /** pings sent at 50/s */
  sent: number;
  lost: number;
  /** icmp_seq of the first reply (1 = no loss at the start), or null when none came back */
  firstReplySeq: number | null;
  /** sequences without a reply */
  lostSeqs: number[];
}

/**
 * Registers node `index` (Node object, then namespace, underlay link, OVS and agent, as startCluster
 * does) and adds it to `cluster.nodes`, so createPod and teardown() know it.
 */
export async function addClusterNode(cluster: Cluster, index: number): Promise<ClusterNode> {
  if (cluster.nodes.some((n) => n.index === index)) throw new Error(`the cluster already has node ${index}`);
  const name = nodeNetns(cluster.prefix, index);
  await registerNode(cluster.api, name, index);
  const node = await startClusterNode({
    prefix: cluster.prefix, index, dir: join(cluster.dir, `n${index}`), kubeconfig: cluster.kubeconfig,
    cniBinDir: join(cluster.dir, 'cni-bin'), extraAgentArgs: [],
  }, cluster.underlayNetns);
  cluster.nodes.push(node);
  return node;
}

/** Pings `target` (on the new node) from `source` at 50/s for `seconds` and reports the loss. */
export async function pingNewNode(source: Pod, target: Pod, seconds = 2): Promise<NewNodeOutcome> {
  const sent = seconds * 50;
  const p = await ping(source, target, sent, 0.02);
  const answered = new Set(p.replySeqs);
  const lostSeqs = Array.from({ length: p.transmitted }, (_, i) => i + 1).filter((s) => !answered.has(s));
  return { sent: p.transmitted, lost: p.transmitted - p.received, firstReplySeq: p.replySeqs.length > 0 ? Math.min(...p.replySeqs) : null, lostSeqs };
}
