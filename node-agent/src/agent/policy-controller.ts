// NetworkPolicy on this node: keeps the pure PolicyCompiler fed from the Pod, Namespace and
// NetworkPolicy informers and from the local attachments, and applies each flow diff as one
// atomic bundle. A failed bundle schedules a full resync (level-triggered recovery).
import type * as k8s from '@kubernetes/client-node';
import { PolicyCompiler } from '../policy/compiler.js';
import type { FlowDiff, LocalPod, NamespaceInfo, PodInfo } from '../policy/types.js';
import type { Flow } from '../pipeline/flow.js';
import { errorMessage, logger } from '../util/log.js';
import type { Attachment } from './attachments.js';
import type { FlowSync } from './flow-sync.js';
import type { FlowOp } from './ports.js';

const log = logger('policy');

export function podInfoOf(p: k8s.V1Pod): PodInfo | undefined {
  const namespace = p.metadata?.namespace;
  const name = p.metadata?.name;
  if (!namespace || !name) return undefined;
  const ips = (p.status?.podIPs?.map((x) => x.ip) ?? (p.status?.podIP ? [p.status.podIP] : [])).filter((ip): ip is string => !!ip);
  // Pods on the host network share the node's IP: they are not pod-network peers.
  const hostNetwork = p.spec?.hostNetwork === true;
  return {
    namespace,
    name,
    ...(p.metadata?.uid ? { uid: p.metadata.uid } : {}),
    labels: p.metadata?.labels ?? {},
    ips: hostNetwork ? [] : ips,
    nodeName: p.spec?.nodeName ?? '',
    containerPorts: (p.spec?.containers ?? []).flatMap((c) =>
      (c.ports ?? []).map((port) => ({
        ...(port.name ? { name: port.name } : {}),
        containerPort: port.containerPort,
        ...(port.protocol ? { protocol: port.protocol } : {}),
      })),
    ),
  };
}

export function namespaceInfoOf(n: k8s.V1Namespace): NamespaceInfo | undefined {
  const name = n.metadata?.name;
  return name ? { name, labels: n.metadata?.labels ?? {} } : undefined;
}

export function localPodOf(a: Attachment): LocalPod | undefined {
  if (!a.podNamespace || !a.podName) return undefined;
  return { namespace: a.podNamespace, name: a.podName, ip: a.ip, ofport: a.ofport };
}

export function diffOps(d: FlowDiff): FlowOp[] {
  return [
    ...d.delete.map((f) => ({ op: 'deleteStrict' as const, table: f.table, priority: f.priority, match: f.match })),
    ...d.modify.map((flow) => ({ op: 'add' as const, flow })),
    ...d.add.map((flow) => ({ op: 'add' as const, flow })),
  ];
}

export interface PolicyControllerDeps {
  flows: FlowSync;
  nodeAddresses: string[];
  onRealized?: (seconds: number, rules: number) => void;
  requestResync: (why: string) => void;
}

export class PolicyController {
  readonly compiler: PolicyCompiler;

  constructor(private readonly d: PolicyControllerDeps) {
    this.compiler = new PolicyCompiler({ nodeAddresses: d.nodeAddresses });
  }

  /** Start-up: load the whole cluster; the flows go in with the full resync. */
  load(pods: readonly k8s.V1Pod[], namespaces: readonly k8s.V1Namespace[], policies: readonly k8s.V1NetworkPolicy[], local: Attachment[]): void {
    const diff = this.compiler.load({
      pods: pods.map(podInfoOf).filter((p): p is PodInfo => !!p),
      namespaces: namespaces.map(namespaceInfoOf).filter((n): n is NamespaceInfo => !!n),
      policies,
      localPods: local.map(localPodOf).filter((p): p is LocalPod => !!p),
    });
    this.logWarnings(diff);
    log.info('NetworkPolicies compiled', { policies: policies.length, activePolicies: this.compiler.activePolicyCount(), rules: this.compiler.rules().size, flows: this.compiler.flows().length });
  }

  desiredFlows(): Flow[] {
    return this.compiler.flows();
  }

  onPod(type: 'add' | 'update' | 'delete', p: k8s.V1Pod): void {
    const info = podInfoOf(p);
    if (!info) return;
    this.apply(type === 'delete' ? this.compiler.deletePod(info.namespace, info.name) : this.compiler.upsertPod(info), `pod ${info.namespace}/${info.name}`);
  }

  onNamespace(type: 'add' | 'update' | 'delete', n: k8s.V1Namespace): void {
    const info = namespaceInfoOf(n);
    if (!info) return;
    this.apply(type === 'delete' ? this.compiler.deleteNamespace(info.name) : this.compiler.upsertNamespace(info), `namespace ${info.name}`);
  }

  onPolicy(type: 'add' | 'update' | 'delete', np: k8s.V1NetworkPolicy): void {
    const ns = np.metadata?.namespace;
    const name = np.metadata?.name;
    if (!ns || !name) return;
    this.apply(type === 'delete' ? this.compiler.deletePolicy(ns, name) : this.compiler.upsertPolicy(np), `networkpolicy ${ns}/${name}`);
  }

  /**
   * CNI ADD: the flow operations that put the new pod under its policies. They go into the same
   * bundle as the pod's own flows so the pod is never reachable before it is isolated.
   */
  opsForNewPod(a: Attachment, pod: k8s.V1Pod | undefined): FlowOp[] {
    const local = localPodOf(a);
    if (!local) return [];
    const ops: FlowOp[] = [];
    if (pod) {
      const info = podInfoOf(pod);
      if (info) ops.push(...this.take(this.compiler.upsertPod(info)));
    }
    ops.push(...this.take(this.compiler.upsertLocalPod(local)));
    return ops;
  }

  /** CNI DEL (or GC): the pod's policy flows go away. */
  removeLocalPod(a: Attachment): void {
    if (!a.podNamespace || !a.podName) return;
    this.apply(this.compiler.deleteLocalPod(a.podNamespace, a.podName), `pod ${a.podNamespace}/${a.podName} detached`);
  }

  private take(diff: FlowDiff): FlowOp[] {
    this.logWarnings(diff);
    return diffOps(diff);
  }

  private apply(diff: FlowDiff, cause: string): void {
    const ops = this.take(diff);
    if (ops.length === 0) return;
    const started = process.hrtime.bigint();
    // Enqueued synchronously, so bundles reach OVS in the order the compiler produced them.
    this.d.flows.applyOps(ops).then(
      () => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.d.onRealized?.(seconds, this.compiler.rules().size);
        log.debug('policy flows updated', { cause, ops: ops.length, ms: Math.round(seconds * 1000) });
      },
      (e) => {
        log.error('applying policy flows failed; resynchronising all flows', { cause, error: errorMessage(e) });
        this.d.requestResync(`policy update for ${cause} failed`);
      },
    );
  }

  private logWarnings(diff: FlowDiff): void {
    for (const w of diff.warnings) log.warn('NetworkPolicy cannot be fully honoured', { policy: w.policy, problem: w.message });
  }
}
