// The simulated multi-node cluster: underlay, API server, nodes (OVS + loom-agent), pods, probes and
// kubectl. startCluster() builds it all or, if any step fails, removes what it made and throws;
// teardown() removes everything. Layout and rationale: docs/e2e.md.
import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOM_CNI, requireBuild } from '../../node-agent/test/support/agent-node.js';
import { createNetns, deleteNetns, listNetns } from '../../node-agent/test/support/netns.js';
import type { ProbeResult, ProbeTarget } from './agnhost.js';
import { ApiClient } from './api-client.js';
import { startApiServerProcess, type ApiServerProcess } from './apiserver-process.js';
import { bundlePrograms, type HarnessPrograms } from './bundle.js';
import { cleanupClusterLeftovers, markOwned, transferOwnership } from './cleanup.js';
import { registerNode, startClusterNode, type ClusterNode } from './cluster-node.js';
import { runKubectl, type KubectlResult } from './kubectl.js';
import type { PortProtocol, TruthTable } from './matrix.js';
import { apiNetns, E2E_PREFIX_ROOT, newClusterPrefix, nodeNetns, UNDERLAY, underlayNetns, validatePrefix } from './names.js';
import { PodManager, type Pod, type PodSpec } from './pods.js';
import { probeFrom, probeMatrix, startServer, type Endpoint, type ProbeOptions, type ServerProcess } from './probe.js';
import { attachToUnderlay, createUnderlayBridge } from './underlay.js';

export interface ClusterOptions {
  /** number of nodes (default 3) */
  nodes?: number;
  /** full prefix of every name (default `loomt-e2e-<random>-`); must start with prefixRoot */
  prefix?: string;
  /** leftovers under this root whose owner is gone are removed first (default `loomt-e2e-`) */
  prefixRoot?: string;
  /** extra loom-agent flags for every node, or per node (1-based index) */
  agentArgs?: string[] | ((index: number) => string[]);
  /** CNI plugin types of Loom's conflist the simulated runtime runs (default: loom-cni) */
  runPlugins?: string[];
  /**
   * Processes (API server, agents, pod servers) survive the harness process's exit; pair with
   * handOver() so leftover cleanup leaves the cluster alone (demo --keep).
   */
  keepProcessesOnExit?: boolean;
  /** progress lines (e.g. console.log for the demo) */
  log?: (line: string) => void;
}

export interface Cluster {
  prefix: string;
  /** the cluster's temp dir (kubeconfig, logs, node dirs) */
  dir: string;
  /** kubeconfig for https://10.0.0.2:6443 (usable from the underlay and node namespaces) */
  kubeconfig: string;
  apiServerUrl: string;
  /** namespace holding the underlay bridge (10.0.0.1, "the internet") */
  underlayNetns: string;
  apiServerNetns: string;
  nodes: ClusterNode[];
  /** the harness's API access (unix-socket side door; also fault injection) */
  api: ApiClient;
  programs: HarnessPrograms;
  node(ref: string | number): ClusterNode;
  createPod(spec: PodSpec): Promise<Pod>;
  deletePod(pod: Pod | { namespace: string; name: string }): Promise<void>;
  pod(namespace: string, name: string): Pod;
  pods(): Pod[];
  /** Probes targets from inside a pod (or any harness namespace endpoint). */
  probe(from: Pod | Endpoint, targets: ProbeTarget[], opts?: ProbeOptions): Promise<ProbeResult[]>;
  /** Every pod probes every pod on every port; one truth table per port/protocol. */
  probeMatrix(pods: Array<Pod | Endpoint>, targets: PortProtocol[], opts?: ProbeOptions): Promise<TruthTable[]>;
  /** An agnhost server in the underlay namespace at 10.0.0.1 ("outside the cluster"). */
  startExternalServer(name: string, ports: { tcp?: number[]; udp?: number[] }): Promise<ServerProcess & Endpoint>;
  kubectl(args: string[], opts?: { input?: string; reject?: boolean }): Promise<KubectlResult>;
  /** Runs a command inside a pod's network namespace. */
  exec(pod: Pod, cmd: string, args: string[], opts?: { reject?: boolean }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  teardown(): Promise<void>;
  /** Records `pid` as the owner of every namespace and directory of the cluster (see cleanup.ts). */
  handOver(pid: number): Promise<void>;
}

/** Brings up the whole cluster; on any failure removes what it made and throws naming the step. */
export async function startCluster(o: ClusterOptions = {}): Promise<Cluster> {
  requireBuild();
  const nodeCount = o.nodes ?? 3;
  if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 20) throw new Error(`nodes must be 1..20, got ${nodeCount}`);
  const root = o.prefixRoot ?? E2E_PREFIX_ROOT;
  const prefix = validatePrefix(o.prefix ?? newClusterPrefix(root));
  if (!prefix.startsWith(root)) throw new Error(`prefix "${prefix}" must start with prefixRoot "${root}"`);
  const log = o.log ?? ((): void => undefined);
  let step = 'cleaning leftovers of earlier runs';
  const state: { dir?: string; apiServer?: ApiServerProcess; nodes: ClusterNode[]; pods?: PodManager; servers: ServerProcess[] } = { nodes: [], servers: [] };

  const teardown = async (): Promise<void> => {
    await state.pods?.stopServers();
    await Promise.all(state.servers.splice(0).map((s) => s.stop().catch(() => undefined)));
    await Promise.all(state.nodes.map((n) => n.destroy().catch(() => undefined)));
    await state.apiServer?.stop().catch(() => undefined);
    const mine = (await listNetns()).filter((n) => n.startsWith(prefix));
    // pods first, then nodes, the API server and the underlay last
    const order = (n: string): number => (n.startsWith(`${prefix}p-`) ? 0 : n === underlayNetns(prefix) ? 2 : 1);
    for (const group of [0, 1, 2]) await Promise.all(mine.filter((n) => order(n) === group).map((n) => deleteNetns(n)));
    for (const entry of await readdir(tmpdir()).catch(() => [] as string[])) {
      if (entry.startsWith(prefix)) await rm(join(tmpdir(), entry), { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
    }
  };

  try {
    await cleanupClusterLeftovers(root);
    step = 'creating the cluster directory and bundling agnhost and the API server';
    const dir = await mkdtemp(join(tmpdir(), prefix));
    state.dir = dir;
    await markOwned(dir);
    const cniBinDir = join(dir, 'cni-bin');
    await mkdir(cniBinDir);
    await Promise.all([
      symlink(LOOM_CNI, join(cniBinDir, 'loom-cni')),
      symlink('/usr/lib/cni/loopback', join(cniBinDir, 'loopback')),
      symlink('/usr/lib/cni/portmap', join(cniBinDir, 'portmap')),
      mkdir(join(dir, 'home')),
    ]);
    const programsPromise = bundlePrograms(dir);

    step = `creating the underlay namespace ${underlayNetns(prefix)} with bridge ${UNDERLAY.bridge}`;
    log(`underlay ${underlayNetns(prefix)} (${UNDERLAY.gatewayIp}/24 on ${UNDERLAY.bridge})`);
    const ulNs = await createNetns(underlayNetns(prefix));
    await createUnderlayBridge(ulNs);
    step = `creating the API server namespace ${apiNetns(prefix)}`;
    const apiNs = await createNetns(apiNetns(prefix));
    await attachToUnderlay(ulNs, { netns: apiNs, bridgePort: 'v-api', ip: UNDERLAY.apiServerIp, defaultRoute: false });
    const programs = await programsPromise;

    step = 'starting the test API server';
    state.apiServer = await startApiServerProcess({ netns: apiNs, program: programs.apiServer, dir, keepOnExit: o.keepProcessesOnExit ?? false });
    log(`API server ${state.apiServer.url} in ${apiNs} (kubeconfig ${state.apiServer.kubeconfig})`);
    const api = new ApiClient(state.apiServer.unixSocket);

    step = 'registering the Node objects';
    for (let i = 1; i <= nodeCount; i++) await registerNode(api, nodeNetns(prefix, i), i);

    step = 'starting the nodes (namespace, underlay link, OVS, loom-agent)';
    const apiServer = state.apiServer;
    const started = await Promise.allSettled(Array.from({ length: nodeCount }, (_, k) => k + 1).map(async (i) => {
      const extra = typeof o.agentArgs === 'function' ? o.agentArgs(i) : (o.agentArgs ?? []);
      const node = await startClusterNode({ prefix, index: i, dir: join(dir, `n${i}`), kubeconfig: apiServer.kubeconfig, cniBinDir, extraAgentArgs: extra, keepOnExit: o.keepProcessesOnExit ?? false }, ulNs);
      state.nodes.push(node);
      log(`node ${node.name}: ${node.internalIp}, podCIDR ${node.podCidr}, agent ready`);
      return node;
    }));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    state.nodes.sort((a, b) => a.index - b.index);

    const runPlugins = new Set(o.runPlugins ?? ['loom-cni']);
    const pods = new PodManager({ prefix, api, nodes: state.nodes, cniBinDir, agnhost: programs.agnhost, runPlugins: (t) => runPlugins.has(t), keepOnExit: o.keepProcessesOnExit ?? false });
    state.pods = pods;
    const kubectlCtx = { ulNetns: ulNs, kubeconfig: apiServer.kubeconfig, home: join(dir, 'home') };
    const endpointOf = (p: Pod | Endpoint): Endpoint => ({ key: p.key, netns: p.netns, ip: p.ip });
    let tornDown: Promise<void> | undefined;
    return {
      prefix, dir, kubeconfig: apiServer.kubeconfig, apiServerUrl: apiServer.url, underlayNetns: ulNs, apiServerNetns: apiNs,
      nodes: state.nodes, api, programs,
      node: (ref) => pods.node(ref),
      createPod: (spec) => pods.create(spec),
      deletePod: (p) => pods.delete(p.namespace, p.name),
      pod: (ns, name) => pods.get(ns, name),
      pods: () => pods.list(),
      probe: (from, targets, opts) => probeFrom(programs.agnhost, from.netns, targets, opts),
      probeMatrix: (list, targets, opts) => probeMatrix(programs.agnhost, list.map(endpointOf), targets, opts),
      async startExternalServer(name, ports) {
        const server = await startServer(programs.agnhost, ulNs, name, ports);
        state.servers.push(server);
        return { ...server, key: `external/${name}`, ip: UNDERLAY.gatewayIp };
      },
      kubectl: (args, opts) => runKubectl(kubectlCtx, args, opts),
      async exec(pod, cmd, args, opts = {}) {
        const r = await execa('ip', ['netns', 'exec', pod.netns, cmd, ...args], { reject: false, timeout: 30000 });
        if ((opts.reject ?? true) && r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} in pod ${pod.key} failed (${r.exitCode}): ${r.stderr.trim()}`);
        return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
      },
      teardown: () => (tornDown ??= teardown()),
      handOver: (pid) => transferOwnership(prefix, pid),
    };
  } catch (e) {
    await teardown();
    throw new Error(`starting the e2e cluster (${prefix}) failed while ${step}: ${(e as Error).message}`);
  }
}
