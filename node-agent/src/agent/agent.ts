// loom-agent: wires configuration, Kubernetes, OVS, IPAM and the CNI server together.
// Start-up is level-triggered: whatever happened before, the agent recomputes the desired state
// from OVSDB, the IPAM store and Kubernetes, and converges the datapath to it.
import { execa } from 'execa';
import { type AgentConfig, bridgeMgmtSocket, cniConfPath, isStandalone, ovsdbRemote, podMtu } from '../config/index.js';
import { CniServer } from '../cniserver/server.js';
import { makeShimHandler } from '../cniserver/handler.js';
import { IpamStore } from '../ipam/store.js';
import { createMetrics, startHttpEndpoints, type HttpEndpoints, type LoomMetrics } from '../metrics/index.js';
import { OpenFlowClient } from '../ovs/ofctl.js';
import { NativeOpenFlowClient } from '../ovs/openflow/client.js';
import { OvsdbClient } from '../ovs/ovsdb.js';
import { OvsAppctl } from '../ovs/appctl.js';
import { baseFlows, type NodeNetwork } from '../pipeline/pipeline.js';
import { TABLE_NAMES } from '../pipeline/flow.js';
import { getInterfaceMtu, preparePodSide } from '../podnet/index.js';
import type * as k8s from '@kubernetes/client-node';
import * as k8sApi from '@kubernetes/client-node';
import { loadKubeConfig, waitForNodePodCidr } from '../k8s/node.js';
import { namespaceWatch, networkPolicyWatch, nodeWatch, podWatch, ResilientInformer } from '../k8s/informers.js';
import { PolicyController } from './policy-controller.js';
import { ensureHostRules } from './host-rules.js';
import { Overlay } from './overlay.js';
import { setupUnderlay, type Underlay } from './underlay.js';
import { errorMessage, logger } from '../util/log.js';
import { bridgePorts, flowTable, podInterfaces } from './adapters.js';
import { Attachments } from './attachments.js';
import { AgentQos } from '../qos/agent-qos.js'; // [qos] bandwidth limits (issue 6)
import { PodQos } from '../qos/controller.js'; // [qos]
import { installCniConf, removeCniConf } from './cni-conf.js';
import { FlowSync } from './flow-sync.js';
import { setupNodeDatapath, type NodeDatapathState } from './node-datapath.js';
import { VswitchdWatch } from './ovs-watch.js';
import { join } from 'node:path';
// --- loomctl debug API + policy audit (issue 9): begin ---
import { dirname } from 'node:path';
import { vswitchdCtlSocket } from '../config/derived.js';
import { DebugServer, debugSocketPath } from '../debugapi/server.js';
import type { AgentIntrospection } from '../debugapi/types.js';
import { AuditController } from '../audit/controller.js';
// --- loomctl debug API + policy audit: end ---

const log = logger('agent');
const TUNNEL_OFPORT = 1;

export class Agent {
  private ready = false;
  private startupProblem: string | null = 'starting';
  private ovsdb: OvsdbClient | undefined;
  private server: CniServer | undefined;
  private http: HttpEndpoints | undefined;
  private datapath: NodeDatapathState | undefined;
  private ofctl: OpenFlowClient | undefined;
  private openflow: NativeOpenFlowClient | undefined;
  private kc: k8s.KubeConfig | undefined;
  private nodeInformer: ResilientInformer<k8s.V1Node> | undefined;
  private podInformer: ResilientInformer<k8s.V1Pod> | undefined;
  private nsInformer: ResilientInformer<k8s.V1Namespace> | undefined;
  private policyInformer: ResilientInformer<k8s.V1NetworkPolicy> | undefined;
  policy: PolicyController | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private vswitchdWatch: VswitchdWatch | undefined;
  // loomctl debug API + policy audit (issue 9)
  private debugServer: DebugServer | undefined;
  private audit: AuditController | undefined;
  /** set in the same tick as the initial load: from then on watch events are applied incrementally */
  private watchLive = false;
  underlay: Underlay | undefined;
  overlay: Overlay | undefined;
  attachments: Attachments | undefined;
  qos: AgentQos | undefined; // [qos]
  flows: FlowSync | undefined;
  readonly metrics: LoomMetrics;

  constructor(readonly config: AgentConfig) {
    this.metrics = createMetrics();
  }

  notReadyReason(): string | null {
    return this.ready ? null : (this.startupProblem ?? 'starting');
  }

  async start(): Promise<void> {
    const c = this.config;
    // The socket answers "not ready" (CNI code 11) until everything below is done.
    this.server = new CniServer({
      socketPath: c.cniSocket,
      notReadyReason: () => this.notReadyReason(),
      handler: makeShimHandler(
        {
          add: (call) => this.attachments!.add(call),
          del: (call) => this.attachments!.del(call.containerId, call.ifname),
          check: (call) => this.attachments!.check(call, () => this.installedCookies()),
          gc: async (valid) => void (await this.attachments!.gc(valid)),
          statusProblem: () => this.notReadyReason(),
        },
        (verb, result, seconds) => {
          if (verb === 'UNKNOWN') return;
          this.metrics.cniRequests.inc({ verb, result });
          this.metrics.cniRequestDuration.observe({ verb }, seconds);
        },
      ),
    });
    await this.server.start();
    if (c.metricsPort !== 0) {
      this.http = await startHttpEndpoints({
        port: c.metricsPort,
        bindAddress: c.metricsBindAddress,
        registry: this.metrics.registry,
        isHealthy: () => this.ovsdb?.isConnected() ?? this.startupProblem === 'starting',
        isReady: () => this.notReadyReason() ?? true,
      });
    }

    const podCidr = await this.resolvePodCidr();
    this.startupProblem = 'connecting to OVSDB';
    this.ovsdb = await OvsdbClient.connect(ovsdbRemote(c));
    this.datapath = await setupNodeDatapath(this.ovsdb, {
      bridge: c.bridge,
      gatewayInterface: c.gatewayInterface,
      podCidr,
      datapathType: c.datapathType,
    });
    const net = this.datapath.network;
    this.ofctl = new OpenFlowClient({ bridge: c.bridge, target: `unix:${bridgeMgmtSocket(c)}` });
    // Flow changes go over one persistent OpenFlow connection (~1 ms per bundle instead of ~50 ms
    // for an ovs-ofctl process); dumps (resync, CHECK, loomctl) still use ovs-ofctl.
    this.openflow = new NativeOpenFlowClient({ bridge: c.bridge, target: this.ofctl.target, fallback: this.ofctl });
    this.flows = new FlowSync(flowTable(this.openflow, this.ofctl), 0);
    const ipam = await IpamStore.open(c.stateDir, podCidr);
    // Load the netns-switching FFI now rather than on the first CNI ADD.
    const podSide = preparePodSide();
    if (!podSide.inProcess) log.warn('pod-side setup falls back to spawning nsenter (slower)', { reason: podSide.reason });
    if (!isStandalone(c) || c.transportInterface || c.transportIP) {
      this.startupProblem = 'setting up the underlay and tunnel';
      this.underlay = await setupUnderlay(this.ovsdb, {
        datapathType: this.datapath.datapathType,
        ...(c.transportInterface ? { transportInterface: c.transportInterface } : {}),
        ...(c.transportIP ? { transportIP: c.transportIP } : {}),
      });
    }
    // The configured MTU wins (podMtu ignores the transport MTU then): only look it up when needed.
    const mtu = podMtu(c, this.underlay?.mtu ?? (c.mtu !== 0 ? 0 : await this.defaultRouteMtu()));
    if (this.underlay) {
      const tunOfport = await this.ovsdb.ensureTunnelPort(c.bridge, c.tunnelInterface, {
        type: 'vxlan',
        dstPort: c.tunnelPort,
        ofportRequest: TUNNEL_OFPORT,
        externalIds: { 'loom-role': 'tunnel' },
      });
      this.overlay = new Overlay({
        localNode: c.nodeName,
        net,
        tunnel: { ofport: tunOfport, vni: c.tunnelVNI },
        flows: this.flows,
        gatewayInterface: c.gatewayInterface,
        podMtu: mtu,
        onPeers: (n) => this.metrics.tunnelPeers.set(n),
        // Userspace datapath: keep the tunnel next hops resolved so no first packet to a node is lost.
        ...(this.datapath.datapathType === 'netdev' ? { tunnelNeighbours: { device: this.underlay.ipInterface, appctl: new OvsAppctl({ target: vswitchdCtlSocket(c) }) } } : {}),
      });
      await ensureHostRules({
        clusterCidr: c.clusterCIDR,
        ...(this.underlay.ipInterface !== this.underlay.nic ? { uplinkNic: this.underlay.nic } : {}),
      });
    }
    if (this.kc) {
      this.startupProblem = 'waiting for the Kubernetes watches to sync';
      this.nodeInformer = new ResilientInformer(this.kc, nodeWatch(this.kc), () => {
        if (this.watchLive) void this.overlay?.sync(this.nodeInformer!.list());
      });
      this.policy = new PolicyController({
        flows: this.flows,
        nodeAddresses: [net.gatewayIp, ...(this.underlay ? [this.underlay.nodeIp] : [])],
        onRealized: (seconds, rules) => {
          this.metrics.policyRealization.observe(seconds);
          this.metrics.policyRules.set(rules);
          this.scheduleFlowMetrics();
        },
        requestResync: (why) => {
          this.metrics.errors.inc({ component: 'policy' });
          this.scheduleResync(why);
        },
      });
      // Events before the first full compile are covered by load(); after it, they are incremental.
      this.podInformer = new ResilientInformer(this.kc, podWatch(this.kc), (_k, type, o) => {
        if (this.watchLive) this.policy!.onPod(type, o);
        if (this.watchLive) void this.qos?.onPod(type, o, this.attachments?.list() ?? []); // [qos] annotation changes
      });
      this.nsInformer = new ResilientInformer(this.kc, namespaceWatch(this.kc), (_k, type, o) => {
        if (this.watchLive) this.policy!.onNamespace(type, o);
      });
      this.policyInformer = new ResilientInformer(this.kc, networkPolicyWatch(this.kc), (_k, type, o) => {
        if (this.watchLive) this.policy!.onPolicy(type, o);
      });
      const informers = [this.nodeInformer, this.podInformer, this.nsInformer, this.policyInformer];
      for (const i of informers) await i.start();
      for (const i of informers) await i.waitForSync();
    }
    this.qos = new AgentQos(new PodQos(this.ovsdb, c.bridge), (ns, name) => this.podObject(ns, name)); // [qos]
    this.attachments = new Attachments({
      qos: this.qos, // [qos]
      ipam,
      ports: bridgePorts(this.ovsdb, c.bridge),
      interfaces: podInterfaces,
      flows: this.flows,
      network: () => net,
      podMtu: mtu,
      disableTxChecksum: this.datapath.datapathType === 'netdev',
      onChange: (list) => {
        this.metrics.pods.set(list.length);
        this.scheduleFlowMetrics();
      },
      extraPodOps: async (a) => {
        if (!this.policy) return () => [];
        const pod = await this.podObject(a.podNamespace, a.podName);
        return () => this.policy?.opsForNewPod(a, pod) ?? [];
      },
      onDetached: (a) => this.policy?.removeLocalPod(a),
    });

    this.startupProblem = 'restoring pods and flows';
    await this.attachments.recover();
    if (this.kc) {
      this.overlay?.setInitial(this.nodeInformer!.list());
      this.policy!.load(this.podInformer!.list(), this.nsInformer!.list(), this.policyInformer!.list(), this.attachments.list());
      void this.qos.resync(this.podInformer!.list(), this.attachments.list()); // [qos] limits after a restart
      this.watchLive = true;
    }
    await this.resyncFlows();
    await this.overlay?.syncHostSide();
    await this.ovsdb.setFlowRestoreWait(false);

    this.vswitchdWatch = new VswitchdWatch(
      join(c.ovsRunDir, 'ovs-vswitchd.pid'),
      () => {
        this.metrics.ovsConnected.set(1);
        // Flows first (they only need ofports and pinned MACs), then the host side.
        this.resyncNow('ovs-vswitchd restarted', async () => undefined, () => this.refreshHostSide());
      },
      () => this.metrics.ovsConnected.set(0),
    );
    await this.vswitchdWatch.start();
    this.metrics.ovsConnected.set(1);
    this.ready = true;
    this.startupProblem = null;
    if (c.installCniConfig) await installCniConf(cniConfPath(c), c.cniSocket);
    log.info('loom-agent ready', { node: c.nodeName, podCidr, mtu, datapath: this.datapath.datapathType, pods: this.attachments.list().length });
    // --- loomctl debug API + policy audit (issue 9): begin ---
    this.debugServer = new DebugServer(this.introspection(), debugSocketPath(c.cniSocket));
    await this.debugServer.start();
    this.audit = new AuditController({
      agent: this.introspection(),
      ofctlTarget: `unix:${bridgeMgmtSocket(c)}`,
      monitorUnixctl: join(dirname(c.cniSocket), 'loom-audit-monitor.ctl'),
      auditLogDir: c.auditLogDir,
    });
    await this.audit.start();
    // --- loomctl debug API + policy audit: end ---
  }

  /** Recompute every desired flow and converge OVS to it under a new cookie round. */
  async resyncFlows(): Promise<void> {
    const net = this.datapath!.network;
    await this.flows!.resync((r) => this.desiredFlows(net, r));
    this.scheduleFlowMetrics();
  }

  private desiredFlows(net: NodeNetwork, round: number) {
    return [
      ...baseFlows(net, round),
      ...(this.overlay?.desiredFlows(round) ?? []),
      ...(this.policy?.desiredFlows() ?? []),
      ...this.attachments!.list().flatMap((a) => this.attachments!.flowsFor(a, round)),
    ];
  }

  /** Replay everything at once (vswitchd restarted: every flow is gone), retrying until it works. */
  private resyncNow(why: string, before: () => Promise<void> = async () => undefined, after: () => Promise<void> = async () => undefined): void {
    const attempt = (n: number) => {
      before()
        .then(() => this.resyncFlows())
        .then(() => after())
        .then(() => this.ovsdb?.setFlowRestoreWait(false))
        .then(() => log.info('flows replayed', { reason: why }))
        .catch((e) => {
          this.metrics.errors.inc({ component: 'ovs' });
          log.warn('flow replay failed; retrying', { reason: why, attempt: n, error: errorMessage(e) });
          setTimeout(() => attempt(n + 1), Math.min(100 * n, 1000));
        });
    };
    attempt(1);
  }

  /**
   * After ovs-vswitchd restarted: internal ports (loom-gw0, br-phy) were recreated without their
   * addresses; put them back (idempotent set-up), then the host routes and tunnel neighbours.
   */
  private async refreshHostSide(): Promise<void> {
    const c = this.config;
    await setupNodeDatapath(this.ovsdb!, {
      bridge: c.bridge,
      gatewayInterface: c.gatewayInterface,
      podCidr: this.datapath!.network.podCidr,
      datapathType: this.datapath!.datapathType,
    });
    if (this.underlay) await setupUnderlay(this.ovsdb!, { datapathType: this.datapath!.datapathType });
    await this.overlay?.syncHostSide();
  }

  /** Level-triggered recovery: recompute everything and converge (debounced). */
  scheduleResync(why: string): void {
    if (this.resyncTimer) return;
    log.warn('scheduling a full flow resync', { reason: why });
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      this.resyncFlows().catch((e) => {
        this.metrics.errors.inc({ component: 'flows' });
        log.error('full resync failed; will retry', { error: errorMessage(e) });
        this.scheduleResync('previous resync failed');
      });
    }, 500);
  }

  /** The Pod object of a new attachment, from the informer cache (waiting briefly) or the API. */
  private async podObject(namespace: string | undefined, name: string | undefined): Promise<k8s.V1Pod | undefined> {
    if (!namespace || !name || !this.podInformer) return undefined;
    const find = () => this.podInformer!.get(name, namespace);
    for (let i = 0; i < 10; i++) {
      const p = find();
      if (p) return p;
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      return await this.kc!.makeApiClient(k8sApi.CoreV1Api).readNamespacedPod({ namespace, name });
    } catch (e) {
      log.warn('the Pod object of a new sandbox is not known; its NetworkPolicies apply once it appears', { pod: `${namespace}/${name}`, error: errorMessage(e) });
      return undefined;
    }
  }

  private async installedCookies(): Promise<Set<bigint>> {
    return new Set((await this.ofctl!.dumpFlows()).map((f) => f.cookie));
  }

  private flowMetricsTimer: NodeJS.Timeout | undefined;

  /** Flows per table from the desired state (no OVS round trip), debounced after changes. */
  scheduleFlowMetrics(): void {
    if (this.flowMetricsTimer || !this.datapath) return;
    this.flowMetricsTimer = setTimeout(() => {
      this.flowMetricsTimer = undefined;
      const counts = new Map<string, number>();
      for (const f of this.desiredFlows(this.datapath!.network, this.flows!.currentRound)) {
        const name = TABLE_NAMES[f.table] ?? String(f.table);
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
      this.metrics.ovsFlows.reset();
      for (const [table, n] of counts) this.metrics.ovsFlows.set({ table }, n);
    }, 1000);
    this.flowMetricsTimer.unref();
  }

  private async resolvePodCidr(): Promise<string> {
    const c = this.config;
    if (!isStandalone(c)) this.kc = loadKubeConfig(c.kubeconfig);
    if (c.podCIDR) return c.podCIDR;
    if (isStandalone(c)) throw new Error('standalone mode (kubeconfig "none") needs podCIDR');
    this.startupProblem = `waiting for Node ${c.nodeName} and its podCIDR`;
    const info = await waitForNodePodCidr(this.kc!, c.nodeName);
    return info.podCidr!;
  }

  /** Transport MTU without an underlay (standalone): the default route's interface, else 1500. */
  private async defaultRouteMtu(): Promise<number> {
    const c = this.config;
    let dev = c.transportInterface;
    if (!dev) {
      const r = await execa('ip', ['-j', 'route', 'show', 'default'], { reject: false });
      try {
        dev = (JSON.parse(r.stdout || '[]') as Array<{ dev?: string }>)[0]?.dev;
      } catch {
        dev = undefined;
      }
    }
    let transportMtu = 1500;
    if (dev) {
      try {
        transportMtu = await getInterfaceMtu(dev);
      } catch (e) {
        log.warn('cannot read the transport MTU; assuming 1500', { interface: dev, error: errorMessage(e) });
      }
    }
    return transportMtu;
  }

  // --- loomctl debug API + policy audit (issue 9): begin ---
  /** Read-only view of this agent for the debug API (loomctl) and policy audit logging. */
  private introspection(): AgentIntrospection {
    const c = this.config;
    return {
      nodeName: c.nodeName,
      bridge: c.bridge,
      vswitchdCtl: vswitchdCtlSocket(c),
      notReadyReason: () => this.notReadyReason(),
      network: () => this.datapath?.network,
      tunnel: () => (this.overlay && this.underlay ? { ofport: TUNNEL_OFPORT, vni: c.tunnelVNI, nodeIp: this.underlay.nodeIp } : undefined),
      attachments: () => this.attachments?.list() ?? [],
      pods: () => this.podInformer?.list() ?? [],
      namespaces: () => this.nsInformer?.list() ?? [],
      networkPolicies: () => this.policyInformer?.list() ?? [],
      nodes: () => this.nodeInformer?.list() ?? [],
      ruleIndex: () => this.policy?.compiler.rules() ?? new Map(),
      policyFlows: () => this.policy?.desiredFlows() ?? [],
      dumpFlows: () => this.ofctl!.dumpFlows(),
    };
  }
  // --- loomctl debug API + policy audit: end ---

  /** Graceful stop: stop answering, leave the datapath (ports, flows) running for existing pods. */
  async stop(opts: { uninstall?: boolean } = {}): Promise<void> {
    this.ready = false;
    this.startupProblem = 'shutting down';
    if (opts.uninstall && this.config.installCniConfig) await removeCniConf(cniConfPath(this.config));
    clearTimeout(this.resyncTimer);
    this.vswitchdWatch?.stop();
    for (const i of [this.nodeInformer, this.podInformer, this.nsInformer, this.policyInformer]) await i?.stop();
    await this.server?.stop();
    await this.audit?.stop(); // loomctl/audit (issue 9)
    await this.debugServer?.stop(); // loomctl/audit (issue 9)
    await this.http?.close();
    this.openflow?.close();
    this.ovsdb?.close();
    log.info('loom-agent stopped; the datapath keeps running');
  }
}
