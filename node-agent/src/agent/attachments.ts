// Pod attachments: CNI ADD / DEL / CHECK / GC and the restart recovery that rebuilds them from OVSDB
// external_ids and the IPAM store. One attachment = (container id, ifname).
import { CniErrorCode, type CniResult, type ValidAttachment } from '../../../cni-binary/src/spec.js';
import { CniError } from '../cniserver/errors.js';
import type { CniCall } from '../cniserver/request.js';
import { buildAddResult } from '../cniserver/result.js';
import { allocate, findByOwner, IpamError, releaseOwner, adopt } from '../ipam/allocator.js';
import type { IpamStore } from '../ipam/store.js';
import { CookieKind, objectSelector } from '../pipeline/cookie.js';
import type { Flow } from '../pipeline/flow.js';
import { podAttachmentKey, podCookieId, podFlows, type NodeNetwork } from '../pipeline/pipeline.js';
import { cidrContains, parseCidr, parseIpv4 } from '../util/ipv4.js';
import { KeyedMutex, UndoStack } from '../util/keyed-mutex.js';
import { StepTimer } from '../util/step-timer.js';
import { errorMessage, logger } from '../util/log.js';
import { isPodNetError } from '../podnet/index.js';
import type { FlowSync } from './flow-sync.js';
import { macForIp } from './node-datapath.js';
import type { BridgePorts, FlowOp, PodInterfaces, PodInterfaceSpec } from './ports.js';
import type { AttachmentQosHooks } from '../qos/agent-qos.js'; // [qos] bandwidth limits (issue 6)

const log = logger('attachments');

/** Pod ports get OpenFlow port numbers from here up (1 and 2 are the tunnel and the gateway). */
export const FIRST_POD_OFPORT = 3;
/** Highest OpenFlow port number OVS assigns (OFPP_MAX in OpenFlow 1.0 numbering). */
const MAX_OFPORT = 0xfeff;

/** external_ids keys on a pod's OVS port: everything needed to rebuild the attachment after a restart. */
export const ExtId = {
  ContainerId: 'loom-container-id',
  Ifname: 'loom-ifname',
  Netns: 'loom-netns',
  PodNamespace: 'loom-pod-namespace',
  PodName: 'loom-pod-name',
  PodUid: 'loom-pod-uid',
  Ip: 'loom-ip',
  Mac: 'loom-mac',
  Mtu: 'loom-mtu',
} as const;

export interface Attachment {
  key: string;
  containerId: string;
  ifname: string;
  netns: string;
  podNamespace?: string;
  podName?: string;
  podUid?: string;
  ip: string;
  mac: string;
  mtu: number;
  hostIfname: string;
  ofport: number;
}

export interface AttachmentsDeps {
  ipam: IpamStore;
  ports: BridgePorts;
  interfaces: PodInterfaces;
  flows: FlowSync;
  network: () => NodeNetwork;
  podMtu: number;
  disableTxChecksum: boolean;
  /**
   * Flow changes other parts (NetworkPolicy) need installed in the same bundle as a new pod's
   * flows. May wait (e.g. for the Pod object); returns a function that computes the operations,
   * called synchronously right when the bundle is queued so diffs stay in order.
   */
  extraPodOps?: (a: Attachment) => Promise<() => FlowOp[]>;
  /** Called after an attachment is torn down (its flows removed). */
  onDetached?: (a: Attachment) => void;
  onChange?: (attachments: readonly Attachment[]) => void;
  /** [qos] Pod bandwidth limits (issue 6): applied after the port exists, removed with it. */
  qos?: AttachmentQosHooks;
}

/** Deterministic pod MAC: 0a:58 followed by the IPv4 address (locally administered, unicast). */
export function podMacFor(ip: string): string {
  if (parseIpv4(ip) === null) throw new Error(`invalid IP ${ip}`);
  return macForIp(ip);
}

export class Attachments {
  private readonly byKey = new Map<string, Attachment>();
  private readonly locks = new KeyedMutex();
  /** ADDs in progress: GC and leak collection must not touch what they are creating. */
  private readonly inflight = new Map<string, string>(); // key -> host veth name
  /** OpenFlow port numbers requested by ADDs in progress. */
  private readonly reservedOfports = new Map<string, number>(); // key -> ofport
  /** OpenFlow port numbers of bridge ports that are not pod attachments (gateway, tunnel, others). */
  private foreignOfports = new Set<number>();

  constructor(private readonly deps: AttachmentsDeps) {}

  list(): Attachment[] {
    return [...this.byKey.values()];
  }

  get(key: string): Attachment | undefined {
    return this.byKey.get(key);
  }

  flowsFor(a: Attachment, round: number): Flow[] {
    return podFlows(this.deps.network(), { key: a.key, ofport: a.ofport, mac: a.mac, ip: a.ip }, round);
  }

  private changed(): void {
    this.deps.onChange?.(this.list());
  }

  /**
   * ADD. The IP is chosen in memory first; then four branches run at once and are all awaited
   * before answering: writing the IPAM store, installing the pod's flows (the OpenFlow port number
   * is requested from OVS, so flows need not wait for the port), creating the veth, and — as soon
   * as the host end of the veth is up — attaching it to the bridge while the pod end is configured.
   * Any failure undoes every branch that started.
   */
  async add(call: CniCall): Promise<CniResult> {
    const key = podAttachmentKey(call.containerId, call.ifname);
    return this.locks.run(key, async () => {
      const existing = this.byKey.get(key);
      if (existing) {
        // A repeated ADD without DEL (e.g. a retry after a timeout): rebuild it, keeping the IP.
        log.warn('ADD for an existing attachment: recreating it', { key, pod: podName(existing) });
        await this.teardown(existing, { releaseIp: false });
      }
      const net = this.deps.network();
      const cidr = parseCidr(net.podCidr)!;
      const undo = new UndoStack();
      const pod = call.pod;
      const steps = new StepTimer();
      const hostIfname = this.deps.interfaces.hostVethName(call.containerId, call.ifname);
      this.inflight.set(key, hostIfname);
      try {
        const staged = this.deps.ipam.stage((s) => {
          const r = allocate(s, {
            containerId: call.containerId,
            ifname: call.ifname,
            ...(pod ? { podNamespace: pod.namespace, podName: pod.name } : {}),
            ...(pod?.uid ? { podUid: pod.uid } : {}),
          });
          return { state: r.state, value: r.ip };
        });
        const ip = staged.value;
        undo.push('release IP', () => this.release(call.containerId, call.ifname));

        const ofportRequest = this.reserveOfport(key);
        const spec: PodInterfaceSpec = {
          netnsPath: call.netns,
          ifname: call.ifname,
          hostIfname,
          mtu: this.deps.podMtu,
          address: `${ip}/${cidr.prefix}`,
          gateway: net.gatewayIp,
          podMac: podMacFor(ip),
          disableTxChecksum: this.deps.disableTxChecksum,
        };
        const a: Attachment = {
          key,
          containerId: call.containerId,
          ifname: call.ifname,
          netns: call.netns,
          ...(pod ? { podNamespace: pod.namespace, podName: pod.name } : {}),
          ...(pod?.uid ? { podUid: pod.uid } : {}),
          ip,
          mac: spec.podMac!,
          mtu: this.deps.podMtu,
          hostIfname,
          ofport: ofportRequest,
        };

        undo.push('delete flows', async () => {
          await this.deps.flows.removeObject(CookieKind.Pod, podCookieId(key));
          this.deps.onDetached?.(a);
        });
        undo.push('delete veth', () => this.deps.interfaces.delete(hostIfname));
        undo.push('delete OVS port', () => this.deps.ports.deletePort(hostIfname));
        let portAdded: Promise<number> | undefined;
        const branches = await Promise.allSettled([
          steps.track('veth', this.deps.interfaces.create(spec, () => {
            portAdded = steps.track('ovsPort', this.deps.ports.addPort(hostIfname, externalIdsOf(a), ofportRequest));
          })),
          steps.track('flows', this.installPodFlows(a, steps)),
          steps.track('ipamWrite', staged.durable),
        ]);
        const port = portAdded === undefined ? undefined : (await Promise.allSettled([portAdded]))[0]!;
        // Report the most telling failure: the interface, then the port, then the rest.
        for (const r of [branches[0], port, branches[1], branches[2]]) if (r?.status === 'rejected') throw r.reason;
        const iface = (branches[0] as PromiseFulfilledResult<{ hostMac: string; podMac: string }>).value;
        const ofport = (port as PromiseFulfilledResult<number>).value;
        if (ofport !== ofportRequest) {
          // Another port held the number (OVS gave this one a different port): redo the flows.
          log.warn('OVS did not grant the requested OpenFlow port; reinstalling the pod flows', { pod: podName(a), requested: ofportRequest, granted: ofport });
          a.ofport = ofport;
          await this.installPodFlows(a, steps);
        }
        // [qos] begin: bandwidth limits (an invalid value fails the ADD with CNI code 103)
        if (this.deps.qos) {
          undo.push('remove bandwidth limits', () => this.deps.qos!.remove(a));
          await steps.track('qos', this.deps.qos.add(a, call));
        }
        // [qos] end

        this.byKey.set(key, a);
        this.changed();
        steps.lap('total');
        log.info('pod attached', { pod: podName(a), containerId: a.containerId, ifname: a.ifname, ip, ofport: a.ofport, port: hostIfname, stepsMs: steps.laps });
        return buildAddResult({
          cniVersion: call.cniVersion,
          hostIfname,
          hostMac: iface.hostMac,
          ifname: call.ifname,
          podMac: iface.podMac,
          netns: call.netns,
          mtu: this.deps.podMtu,
          address: spec.address,
          gateway: net.gatewayIp,
        });
      } catch (e) {
        await undo.run((what, err) => log.error('rollback step failed', { key, step: what, error: errorMessage(err) }));
        log.warn('ADD failed and was rolled back', { key, pod: pod ? `${pod.namespace}/${pod.name}` : undefined, error: errorMessage(e) });
        throw toCniError(e);
      } finally {
        this.inflight.delete(key);
        this.reservedOfports.delete(key);
      }
    });
  }

  /** The pod's flows plus what others (NetworkPolicy) add for it, in one bundle replacing older ones. */
  private async installPodFlows(a: Attachment, steps: StepTimer): Promise<void> {
    const extra = this.deps.extraPodOps ? await steps.track('policy', this.deps.extraPodOps(a)) : () => [];
    const sel = objectSelector(CookieKind.Pod, podCookieId(a.key));
    await this.deps.flows.applyOps([
      { op: 'delete', cookie: sel.cookie, mask: sel.mask },
      ...this.flowsFor(a, 0).map((flow) => ({ op: 'add' as const, flow })),
      ...extra(),
    ]);
  }

  /**
   * The lowest OpenFlow port number held by no attachment, no ADD in flight and no other port seen
   * on the bridge. Requesting a number another port got automatically would make OVS renumber that
   * port, so every number in use must be avoided.
   */
  private reserveOfport(key: string): number {
    const used = new Set<number>([...this.foreignOfports, ...this.reservedOfports.values()]);
    for (const a of this.byKey.values()) used.add(a.ofport);
    let n = FIRST_POD_OFPORT;
    while (used.has(n)) n++;
    if (n > MAX_OFPORT) throw new CniError(CniErrorCode.DatapathFailure, `no free OpenFlow port number on the bridge (all ${MAX_OFPORT} are in use)`);
    this.reservedOfports.set(key, n);
    return n;
  }

  /** DEL: best effort and idempotent; works without netns, without prevResult and when repeated. */
  async del(containerId: string, ifname: string): Promise<void> {
    const key = podAttachmentKey(containerId, ifname);
    await this.locks.run(key, async () => {
      const a = this.byKey.get(key);
      if (a) {
        const stepsMs = await this.teardown(a, { releaseIp: true });
        log.info('pod detached', { pod: podName(a), containerId, ifname, ip: a.ip, stepsMs });
        return;
      }
      // Not known (already deleted, or leaked by a crash): remove whatever could exist by name.
      const hostIfname = this.deps.interfaces.hostVethName(containerId, ifname);
      await this.deps.flows.removeObject(CookieKind.Pod, podCookieId(key));
      await this.deps.qos?.remove({ containerId, ifname, netns: '', hostIfname }); // [qos]
      await this.unwire(hostIfname);
      await this.release(containerId, ifname);
    });
  }

  /** CHECK: every piece must be in place; the message names the missing one. */
  async check(call: CniCall, installedCookies: () => Promise<Set<bigint>>): Promise<void> {
    const key = podAttachmentKey(call.containerId, call.ifname);
    const a = this.byKey.get(key);
    if (!a) throw new CniError(CniErrorCode.UnknownContainer, `no attachment for container ${call.containerId} interface ${call.ifname} on this node`);
    const net = this.deps.network();
    const cidr = parseCidr(net.podCidr)!;
    const problems = await this.deps.interfaces.check({
      netnsPath: call.netns,
      ifname: a.ifname,
      hostIfname: a.hostIfname,
      mtu: a.mtu,
      address: `${a.ip}/${cidr.prefix}`,
      gateway: net.gatewayIp,
      podMac: a.mac,
      disableTxChecksum: this.deps.disableTxChecksum,
    });
    const port = (await this.deps.ports.listPorts()).find((p) => p.name === a.hostIfname);
    if (!port) problems.push(`OVS port ${a.hostIfname} is missing from the bridge`);
    else if (port.ofport <= 0) problems.push(`OVS port ${a.hostIfname} has no OpenFlow port number (ofport ${port.ofport})`);
    if (this.deps.qos) problems.push(...(await this.deps.qos.check({ ...a, netns: call.netns || a.netns }, call))); // [qos]
    const have = await installedCookies();
    const want = this.flowsFor(a, this.deps.flows.currentRound);
    const missing = want.filter((f) => !have.has(f.cookie)).length;
    if (missing > 0 || !have.has(want[0]!.cookie)) problems.push(`the pod's OpenFlow flows are missing from the bridge`);
    if (problems.length > 0) {
      throw new CniError(CniErrorCode.CheckFailed, `CHECK failed for ${podName(a)}: ${problems.join('; ')}`);
    }
  }

  /** GC: remove every attachment, port, veth and IP not in the valid list. */
  async gc(valid: ValidAttachment[]): Promise<{ removed: string[] }> {
    const keep = new Set(valid.map((v) => podAttachmentKey(v.containerID, v.ifname)));
    const removed: string[] = [];
    for (const a of this.list()) {
      if (!keep.has(a.key)) {
        await this.del(a.containerId, a.ifname);
        removed.push(a.key);
      }
    }
    removed.push(...(await this.collectLeaks(keep)));
    if (removed.length > 0) log.info('garbage collected attachments', { removed });
    return { removed };
  }

  /**
   * Rebuild state after a restart from OVS ports (external_ids) and the IPAM store, and remove
   * what a crash could have left half-done. Returns the attachments kept.
   */
  async recover(): Promise<Attachment[]> {
    const ports = await this.deps.ports.listPorts();
    const cidr = parseCidr(this.deps.network().podCidr)!;
    this.foreignOfports = new Set(ports.filter((p) => attachmentFromPort(p) === undefined && p.ofport > 0).map((p) => p.ofport));
    for (const p of ports) {
      const a = attachmentFromPort(p);
      if (!a) continue;
      if (!(await this.deps.interfaces.hostVethExists(a.hostIfname))) {
        // The pod's veth is gone (node reboot, sandbox destroyed while we were down).
        log.info('removing attachment whose veth is gone', { pod: podName(a), port: a.hostIfname });
        await this.teardown(a, { releaseIp: true });
        continue;
      }
      await this.deps.ipam.update((s) => {
        const held = findByOwner(s, a.containerId, a.ifname);
        if (held === a.ip) return { state: s, value: undefined };
        return { state: adopt(s, a.ip, { containerId: a.containerId, ifname: a.ifname }), value: undefined };
      });
      const ipNum = parseIpv4(a.ip);
      if (ipNum === null || !cidrContains(cidr, ipNum)) log.warn('attachment IP is outside the current pod CIDR', { pod: podName(a), ip: a.ip });
      this.byKey.set(a.key, a);
    }
    await this.collectLeaks(new Set(this.byKey.keys()));
    this.changed();
    log.info('attachments recovered', { count: this.byKey.size });
    return this.list();
  }

  /** IPs, ports and veths that belong to no known attachment. */
  private async collectLeaks(keep: Set<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const [ip, owner] of Object.entries(this.deps.ipam.current.allocations)) {
      const key = podAttachmentKey(owner.containerId, owner.ifname);
      if (this.byKey.has(key) || this.inflight.has(key) || keep.has(key)) continue;
      await this.release(owner.containerId, owner.ifname);
      removed.push(`ip ${ip}`);
    }
    const known = new Set([...[...this.byKey.values()].map((a) => a.hostIfname), ...this.inflight.values()]);
    for (const p of await this.deps.ports.listPorts()) {
      if (p.externalIds[ExtId.ContainerId] !== undefined && !known.has(p.name)) {
        await this.deps.ports.deletePort(p.name);
        removed.push(`port ${p.name}`);
      }
    }
    // [qos] QoS/Queue rows are OVSDB root rows: not removed with their port.
    if (this.deps.qos) removed.push(...(await this.deps.qos.gc(new Set([...this.byKey.keys(), ...this.inflight.keys(), ...keep]))));
    for (const veth of await this.deps.interfaces.listHostVeths()) {
      if (!known.has(veth)) {
        await this.deps.interfaces.delete(veth);
        removed.push(`veth ${veth}`);
      }
    }
    return removed;
  }

  private async teardown(a: Attachment, opts: { releaseIp: boolean }): Promise<Record<string, number>> {
    const steps = new StepTimer();
    // Order: no more traffic first, then the port and veth, the IP last so it is never reused while wired.
    await this.deps.flows.removeObject(CookieKind.Pod, podCookieId(a.key));
    steps.lap('flows');
    this.byKey.delete(a.key);
    this.deps.onDetached?.(a);
    if (this.deps.qos) {
      await this.deps.qos.remove(a); // [qos]
      steps.lap('qos');
    }
    await this.unwire(a.hostIfname, steps);
    steps.lap('portAndVeth');
    if (opts.releaseIp) {
      await this.release(a.containerId, a.ifname);
      steps.lap('ipam');
    }
    this.changed();
    return steps.laps;
  }

  /**
   * Removes the OVS port and the veth at once. The kernel's veth removal dominates (~20 ms here,
   * spent inside the netlink call: an RCU grace period).
   */
  private async unwire(hostIfname: string, steps?: StepTimer): Promise<void> {
    const port = this.deps.ports.deletePort(hostIfname);
    const veth = this.deps.interfaces.delete(hostIfname);
    if (steps) {
      steps.track('port', port);
      steps.track('veth', veth);
    }
    const [portDone, vethDone] = await Promise.allSettled([port, veth]);
    if (portDone.status === 'rejected') throw portDone.reason;
    if (vethDone.status === 'rejected') throw vethDone.reason;
  }


  private release(containerId: string, ifname: string): Promise<string[]> {
    return this.deps.ipam.update((s) => {
      const r = releaseOwner(s, containerId, ifname);
      return { state: r.state, value: r.released };
    });
  }
}

export function podName(a: { podNamespace?: string; podName?: string; containerId: string }): string {
  return a.podNamespace && a.podName ? `${a.podNamespace}/${a.podName}` : `container ${a.containerId.slice(0, 12)}`;
}

export function externalIdsOf(a: Attachment): Record<string, string> {
  const ids: Record<string, string> = {
    [ExtId.ContainerId]: a.containerId,
    [ExtId.Ifname]: a.ifname,
    [ExtId.Netns]: a.netns,
    [ExtId.Ip]: a.ip,
    [ExtId.Mac]: a.mac,
    [ExtId.Mtu]: String(a.mtu),
  };
  if (a.podNamespace) ids[ExtId.PodNamespace] = a.podNamespace;
  if (a.podName) ids[ExtId.PodName] = a.podName;
  if (a.podUid) ids[ExtId.PodUid] = a.podUid;
  return ids;
}

export function attachmentFromPort(p: { name: string; ofport: number; externalIds: Record<string, string> }): Attachment | undefined {
  const e = p.externalIds;
  const containerId = e[ExtId.ContainerId];
  const ifname = e[ExtId.Ifname];
  const ip = e[ExtId.Ip];
  const mac = e[ExtId.Mac];
  if (!containerId || !ifname || !ip || !mac) return undefined;
  return {
    key: podAttachmentKey(containerId, ifname),
    containerId,
    ifname,
    netns: e[ExtId.Netns] ?? '',
    ...(e[ExtId.PodNamespace] ? { podNamespace: e[ExtId.PodNamespace] } : {}),
    ...(e[ExtId.PodName] ? { podName: e[ExtId.PodName] } : {}),
    ...(e[ExtId.PodUid] ? { podUid: e[ExtId.PodUid] } : {}),
    ip,
    mac,
    mtu: Number(e[ExtId.Mtu] ?? 0),
    hostIfname: p.name,
    ofport: p.ofport,
  };
}

function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof IpamError && e.reason === 'exhausted') return new CniError(CniErrorCode.IpamExhausted, e.message);
  // The interface already exists in the pod (CNI: ADD must fail) or a value was refused: the request is at fault.
  if (isPodNetError(e, 'ALREADY_EXISTS')) return new CniError(CniErrorCode.InvalidConfig, errorMessage(e));
  return new CniError(CniErrorCode.DatapathFailure, `pod network setup failed: ${errorMessage(e)}`, 'the node was left unchanged; see the loom-agent log for details');
}

