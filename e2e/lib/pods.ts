// Kubelet plus container runtime for the simulated cluster: a Pod object, a pod sandbox (network
// namespace), the CNI calls containerd makes, the pod IP written back to the Pod status, and an
// agnhost server on the pod's container ports.
import type { V1Pod } from '@kubernetes/client-node';
import type { CniResult } from '../../cni-binary/src/spec.js';
import { loomConflist } from '../../node-agent/src/agent/cni-conf.js';
import { createNetns, deleteNetns } from '../../node-agent/test/support/netns.js';
import type { ApiClient } from './api-client.js';
import type { ClusterNode } from './cluster-node.js';
import type { Conflist, CniPortMapping, SandboxInfo } from './cni-request.js';
import { podIpOf, setupPodNetwork, teardownPodNetwork, type RuntimeContext } from './cni-runtime.js';
import { assertDnsLabel, assertPort, newSandboxId, podNetns } from './names.js';
import { startServer, type ServerProcess } from './probe.js';

export interface ContainerPortSpec {
  containerPort: number;
  /** default TCP */
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  /** named port (e.g. serve-80-tcp) */
  name?: string;
  hostPort?: number;
}

export interface PodSpec {
  namespace: string;
  name: string;
  /** node name, or its 1-based index */
  node: string | number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  containerPorts?: ContainerPortSpec[];
  /** start agnhost serving the TCP/UDP container ports (default true) */
  serve?: boolean;
}

export interface Pod {
  namespace: string;
  name: string;
  /** `namespace/name` */
  key: string;
  node: ClusterNode;
  uid: string;
  sandboxId: string;
  /** pod network namespace name and path (CNI_NETNS) */
  netns: string;
  netnsPath: string;
  ip: string;
  /** what loom-cni returned (containerd caches it for the first DEL) */
  cniResult: CniResult;
  spec: PodSpec;
}

export interface PodManagerContext {
  prefix: string;
  api: ApiClient;
  nodes: ClusterNode[];
  cniBinDir: string;
  agnhost: string;
  /** plugin types of the conflist that are run (default: loom-cni only, see docs/e2e.md) */
  runPlugins: (type: string) => boolean;
  /** leave pod servers running when the harness process exits (demo --keep) */
  keepOnExit?: boolean;
}

function conflistFor(node: ClusterNode): Conflist {
  const list = loomConflist(node.cniSocket) as Partial<Conflist>;
  if (typeof list.cniVersion !== 'string' || typeof list.name !== 'string' || !Array.isArray(list.plugins)) {
    throw new Error('loomConflist() no longer returns {cniVersion, name, plugins[]}: update e2e/lib/pods.ts');
  }
  return list as Conflist;
}

export function podObject(spec: PodSpec, nodeName: string): V1Pod {
  const ports = (spec.containerPorts ?? []).map((p) => ({
    containerPort: assertPort('containerPort', p.containerPort),
    protocol: p.protocol ?? 'TCP',
    ...(p.name !== undefined ? { name: p.name } : {}),
    ...(p.hostPort !== undefined ? { hostPort: assertPort('hostPort', p.hostPort) } : {}),
  }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: spec.name, namespace: spec.namespace, labels: spec.labels ?? {}, annotations: spec.annotations ?? {} },
    spec: { nodeName, containers: [{ name: 'agnhost', image: 'registry.k8s.io/e2e-test-images/agnhost:2.52', args: ['serve'], ports }] },
  };
}

function portMappings(spec: PodSpec): CniPortMapping[] {
  return (spec.containerPorts ?? []).filter((p) => (p.hostPort ?? 0) > 0).map((p) => ({
    HostPort: p.hostPort!, ContainerPort: p.containerPort, Protocol: (p.protocol ?? 'TCP').toLowerCase() as CniPortMapping['Protocol'], HostIP: '',
  }));
}

export class PodManager {
  private readonly pods = new Map<string, Pod>();
  private readonly servers = new Map<string, ServerProcess>();

  constructor(private readonly ctx: PodManagerContext) {}

  list(): Pod[] {
    return [...this.pods.values()];
  }

  get(namespace: string, name: string): Pod {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) throw new Error(`no pod ${namespace}/${name} in this cluster (pods: ${[...this.pods.keys()].join(', ') || 'none'})`);
    return pod;
  }

  node(ref: string | number): ClusterNode {
    const node = typeof ref === 'number' ? this.ctx.nodes.find((n) => n.index === ref) : this.ctx.nodes.find((n) => n.name === ref);
    if (!node) throw new Error(`no node ${ref} in this cluster (nodes: ${this.ctx.nodes.map((n) => `${n.index}=${n.name}`).join(', ')})`);
    return node;
  }

  private runtime(node: ClusterNode): RuntimeContext {
    return { nodeNetns: node.netns, cniBinDir: this.ctx.cniBinDir, network: conflistFor(node), runPlugins: this.ctx.runPlugins };
  }

  /** Creates the Pod like kubelet + containerd would; throws (leaving nothing behind) when CNI ADD fails. */
  async create(spec: PodSpec): Promise<Pod> {
    assertDnsLabel('pod namespace', spec.namespace);
    assertDnsLabel('pod name', spec.name);
    const key = `${spec.namespace}/${spec.name}`;
    if (this.pods.has(key)) throw new Error(`pod ${key} already exists in this cluster`);
    const node = this.node(spec.node);
    const { api } = this.ctx;
    await api.ensureNamespace(spec.namespace);
    const created = await api.create('pods', spec.namespace, podObject(spec, node.name));
    const netns = podNetns(this.ctx.prefix, spec.namespace, spec.name);
    const sandbox: SandboxInfo = {
      sandboxId: newSandboxId(),
      netnsPath: `/var/run/netns/${netns}`,
      podNamespace: spec.namespace,
      podName: spec.name,
      podUid: created.metadata?.uid ?? '',
      annotations: spec.annotations ?? {},
      portMappings: portMappings(spec),
    };
    let cniResult: CniResult;
    try {
      await createNetns(netns);
      cniResult = await setupPodNetwork(this.runtime(node), sandbox);
    } catch (e) {
      await deleteNetns(netns);
      await api.delete('pods', spec.namespace, spec.name).catch(() => undefined);
      throw new Error(`creating pod ${key} on ${node.name} failed: ${(e as Error).message}\nagent log ends with:\n${await node.agentLogTail(15)}`);
    }
    const ip = podIpOf(cniResult);
    const pod: Pod = { namespace: spec.namespace, name: spec.name, key, node, uid: sandbox.podUid, sandboxId: sandbox.sandboxId, netns, netnsPath: sandbox.netnsPath, ip, cniResult, spec };
    this.pods.set(key, pod);
    await api.mergePatch('pods', spec.namespace, spec.name, { status: runningStatus(ip, node.internalIp) }, { status: true });
    const tcp = (spec.containerPorts ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort);
    const udp = (spec.containerPorts ?? []).filter((p) => p.protocol === 'UDP').map((p) => p.containerPort);
    if ((spec.serve ?? true) && tcp.length + udp.length > 0) {
      this.servers.set(key, await startServer(this.ctx.agnhost, netns, spec.name, { tcp: [...new Set(tcp)], udp: [...new Set(udp)] }, { keepOnExit: this.ctx.keepOnExit ?? false }));
    }
    return pod;
  }

  /**
   * StopPodSandbox + RemovePodSandbox + Pod deletion: DEL with netns and the cached result, a second
   * DEL without netns or prevResult, the netns removed, the Pod object deleted. Throws after cleaning
   * up when a DEL failed (a real runtime would retry).
   */
  async delete(namespace: string, name: string): Promise<void> {
    const pod = this.get(namespace, name);
    this.pods.delete(pod.key);
    await this.servers.get(pod.key)?.stop();
    this.servers.delete(pod.key);
    const ctx = this.runtime(pod.node);
    const sandbox: SandboxInfo = {
      sandboxId: pod.sandboxId, netnsPath: pod.netnsPath, podNamespace: namespace, podName: name, podUid: pod.uid,
      annotations: pod.spec.annotations ?? {}, portMappings: portMappings(pod.spec),
    };
    const errors: string[] = [];
    await teardownPodNetwork(ctx, sandbox, { withNetns: true, prevResult: pod.cniResult }).catch((e: Error) => errors.push(`StopPodSandbox DEL: ${e.message}`));
    await deleteNetns(pod.netns);
    await teardownPodNetwork(ctx, sandbox, { withNetns: false }).catch((e: Error) => errors.push(`RemovePodSandbox DEL: ${e.message}`));
    await this.ctx.api.delete('pods', namespace, name).catch((e: Error) => errors.push(`deleting the Pod object: ${e.message}`));
    if (errors.length) throw new Error(`deleting pod ${pod.key} on ${pod.node.name}: ${errors.join('; ')}`);
  }

  /** Kills every pod server (teardown; namespaces are removed by the cluster). */
  async stopServers(): Promise<void> {
    await Promise.all([...this.servers.values()].map((s) => s.stop().catch(() => undefined)));
    this.servers.clear();
  }
}

function runningStatus(ip: string, hostIp: string): NonNullable<V1Pod['status']> {
  const now = new Date();
  return {
    phase: 'Running',
    podIP: ip,
    podIPs: [{ ip }],
    hostIP: hostIp,
    hostIPs: [{ ip: hostIp }],
    startTime: now,
    conditions: [
      { type: 'PodReadyToStartContainers', status: 'True', lastTransitionTime: now },
      { type: 'Initialized', status: 'True', lastTransitionTime: now },
      { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
      { type: 'Ready', status: 'True', lastTransitionTime: now },
      { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
    ],
    containerStatuses: [{ name: 'agnhost', ready: true, restartCount: 0, image: 'registry.k8s.io/e2e-test-images/agnhost:2.52', imageID: '', started: true, state: { running: { startedAt: now } } }],
  };
}
