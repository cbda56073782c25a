// Per-pod bandwidth limits on a node. Ingress (into the pod): OVS QoS linux-htb on the pod's OVS port
// (the kernel htb qdisc on the host-side veth). Egress (out of the pod): TBF on the pod's interface in
// its network namespace, next to the sending sockets. Why these two: docs/bandwidth.md.
import type { OvsdbClient } from '../ovs/ovsdb.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import { errorMessage, logger } from '../util/log.js';
import { describeBandwidth, htbParams, isUnlimited, sameBandwidth, tbfParams, type PodBandwidth } from './limits.js';
import { formatBps } from './quantity.js';
import { listLoomQos, listLoomQueues, portQosUuid, QOS_POD_KEY, removePortIngressQos, setPortIngressQos } from './ovs-qos.js';
import { clearTbf, netnsExists, readRootQdisc, setTbf } from './tc.js';

const log = logger('qos');

/** What the controller needs to know about a pod attachment. */
export interface QosTarget {
  containerId: string;
  ifname: string;
  /** pod network namespace path ('' when unknown, e.g. DEL after the sandbox is gone) */
  netns: string;
  /** host-side veth = the pod's OVS port */
  hostIfname: string;
  podNamespace?: string;
  podName?: string;
}

export interface ApplyOptions {
  /** the interfaces were just created: nothing of an earlier limit can exist (skips clean-up reads) */
  fresh?: boolean;
}

/** Attachment key, the same as the pipeline's podAttachmentKey. */
export function qosKey(t: { containerId: string; ifname: string }): string {
  return `${t.containerId}/${t.ifname}`;
}

function who(t: QosTarget): string {
  return t.podNamespace && t.podName ? `${t.podNamespace}/${t.podName}` : `container ${t.containerId.slice(0, 12)}`;
}

export class PodQos {
  private readonly locks = new KeyedMutex();
  /** limits in place, by attachment key */
  private readonly applied = new Map<string, PodBandwidth>();

  /**
   * @param hostNetns path of the network namespace holding the pod's host-side veths, used by
   *   check() to read their qdiscs; '' (default) = the agent's own namespace.
   */
  constructor(
    private readonly ovsdb: OvsdbClient,
    private readonly bridge: string,
    private readonly hostNetns = '',
  ) {}

  /** The limits last applied to an attachment ({} = none; undefined = not known, e.g. after a restart). */
  current(t: { containerId: string; ifname: string }): PodBandwidth | undefined {
    return this.applied.get(qosKey(t));
  }

  /** Brings the attachment's limits to `bw`: replaces changed ones, removes directions no longer limited. Idempotent. */
  async apply(t: QosTarget, bw: PodBandwidth, opts: ApplyOptions = {}): Promise<void> {
    const key = qosKey(t);
    await this.locks.run(key, async () => {
      const before = this.applied.get(key);
      if (before && sameBandwidth(before, bw)) return;
      if (opts.fresh && isUnlimited(bw)) {
        this.applied.set(key, {}); // known to have no limits: later identical updates are no-ops
        return;
      }
      // Ingress: htb on the OVS port.
      if (bw.ingressBps !== undefined) {
        const labels: Record<string, string> = { [QOS_POD_KEY]: who(t) };
        await setPortIngressQos(this.ovsdb, key, t.hostIfname, htbParams(bw.ingressBps, bw.ingressBurstBits), labels);
      } else if (!opts.fresh && (before === undefined || before.ingressBps !== undefined)) {
        await removePortIngressQos(this.ovsdb, key);
      }
      // Egress: tbf inside the pod.
      if (bw.egressBps !== undefined) {
        await setTbf(t.netns, t.ifname, tbfParams(bw.egressBps, bw.egressBurstBits));
      } else if (!opts.fresh && (before === undefined || before.egressBps !== undefined) && netnsExists(t.netns)) {
        await clearTbf(t.netns, t.ifname);
      }
      this.applied.set(key, { ...bw });
      log.info('pod bandwidth applied', { pod: who(t), containerId: t.containerId, ifname: t.ifname, limits: describeBandwidth(bw), previous: before ? describeBandwidth(before) : undefined });
    });
  }

  /** Removes everything Loom created for the attachment: QoS/Queue rows, the port's reference, the pod's TBF. */
  async remove(t: QosTarget): Promise<void> {
    const key = qosKey(t);
    await this.locks.run(key, async () => {
      const removed = await removePortIngressQos(this.ovsdb, key);
      const before = this.applied.get(key);
      let tbf = false;
      // Skip the pod-side look (a process spawn) when the pod is known to have no egress limit.
      if ((before === undefined || before.egressBps !== undefined) && netnsExists(t.netns)) {
        try {
          tbf = await clearTbf(t.netns, t.ifname);
        } catch (e) {
          // The pod interface is already gone (veth deleted): so is its qdisc.
          log.debug('pod TBF not removed', { pod: who(t), error: errorMessage(e) });
        }
      }
      this.applied.delete(key);
      if ((before !== undefined && !isUnlimited(before)) || removed > 0 || tbf) log.info('pod bandwidth limits removed', { pod: who(t), containerId: t.containerId, ifname: t.ifname });
    });
  }

  /** CNI CHECK: the problems with the attachment's limits ([] when everything is in place). */
  async check(t: QosTarget, bw: PodBandwidth | undefined = this.current(t)): Promise<string[]> {
    const key = qosKey(t);
    const want = bw ?? {};
    const problems: string[] = [];
    const rows = (await listLoomQos(this.ovsdb)).filter((r) => r.owner === key);
    const portQos = await portQosUuid(this.ovsdb, t.hostIfname);
    if (want.ingressBps !== undefined) {
      const row = rows[0];
      const htb = htbParams(want.ingressBps, want.ingressBurstBits);
      if (!row) problems.push(`ingress limit ${formatBps(want.ingressBps)}bit/s is missing: no OVS QoS row for ${key}`);
      else {
        if (row.type !== 'linux-htb' || row.maxRateBps !== htb.maxRateBps) problems.push(`OVS QoS of ${t.hostIfname} is ${row.type} max-rate ${row.maxRateBps}, expected linux-htb max-rate ${htb.maxRateBps}`);
        if (row.queueUuids.length !== 1) problems.push(`OVS QoS of ${t.hostIfname} has ${row.queueUuids.length} queues, expected 1 (queue 0)`);
        if (portQos !== row.uuid) problems.push(`OVS port ${t.hostIfname} does not reference its QoS row (qos=${portQos ?? 'none'})`);
      }
      const qdisc = await readRootQdisc(this.hostNetns, t.hostIfname).catch((e: unknown) => ({ kind: `unreadable (${errorMessage(e)})` }));
      if (qdisc?.kind !== 'htb') problems.push(`ingress limit is not programmed: the root qdisc of ${t.hostIfname} is ${qdisc?.kind ?? 'none'}, expected htb (is ovs-vswitchd running?)`);
    } else {
      if (rows.length > 0) problems.push(`unexpected ingress limit: ${rows.length} OVS QoS row(s) for ${key}`);
      if (portQos) problems.push(`OVS port ${t.hostIfname} has a QoS (${portQos}) but the pod has no ingress limit`);
    }
    if (!netnsExists(t.netns)) {
      if (want.egressBps !== undefined) problems.push(`cannot verify the egress limit: network namespace ${t.netns || '(none)'} does not exist`);
      return problems;
    }
    const root = await readRootQdisc(t.netns, t.ifname).catch((e: unknown) => ({ kind: `unreadable (${errorMessage(e)})` }) as { kind: string; rateBps?: number });
    if (want.egressBps !== undefined) {
      if (root?.kind !== 'tbf') problems.push(`egress limit ${formatBps(want.egressBps)}bit/s is missing: the root qdisc of ${t.ifname} in the pod is ${root?.kind ?? 'none'}`);
      else if (root.rateBps !== want.egressBps) problems.push(`egress limit of ${t.ifname} is ${root.rateBps} bit/s, expected ${want.egressBps}`);
    } else if (root?.kind === 'tbf') {
      problems.push(`unexpected egress limit: ${t.ifname} in the pod has a tbf qdisc but the pod has no egress limit`);
    }
    return problems;
  }

  /** Attachment keys that own QoS or Queue rows but are not in `validKeys`. */
  async listLeaked(validKeys: ReadonlySet<string>): Promise<string[]> {
    const owners = new Set<string>();
    for (const r of await listLoomQos(this.ovsdb)) if (!validKeys.has(r.owner)) owners.add(r.owner);
    for (const r of await listLoomQueues(this.ovsdb)) if (!validKeys.has(r.owner)) owners.add(r.owner);
    return [...owners].sort();
  }

  /** Removes the QoS/Queue rows of every attachment not in `validKeys`. Returns descriptions of what went. */
  async gc(validKeys: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const owner of await this.listLeaked(validKeys)) {
      await this.locks.run(owner, async () => {
        await removePortIngressQos(this.ovsdb, owner);
        this.applied.delete(owner);
      });
      removed.push(`qos ${owner}`);
    }
    if (removed.length > 0) log.info('garbage collected QoS rows', { bridge: this.bridge, removed });
    return removed;
  }
}
