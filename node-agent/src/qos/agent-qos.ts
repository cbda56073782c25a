// The agent's side of pod bandwidth limits: decides each attachment's limits from its Pod object
// (annotations, the source of truth for updates) or the CNI runtimeConfig, and drives PodQos on
// ADD / DEL / CHECK / GC and on Pod annotation changes.
import type * as k8s from '@kubernetes/client-node';
import { CniErrorCode } from '../../../cni-binary/src/spec.js';
import { CniError } from '../cniserver/errors.js';
import type { BandwidthRuntimeConfig } from '../../../cni-binary/src/spec.js';
import { errorMessage, logger } from '../util/log.js';
import type { PodQos, QosTarget } from './controller.js';
import { bandwidthFromAnnotations, describeBandwidth, desiredBandwidth, type PodBandwidth } from './limits.js';
import { BandwidthValueError } from './quantity.js';

const log = logger('qos');

/** Fetches the Pod object of an attachment (undefined when not known, e.g. without Kubernetes). */
export type PodLookup = (namespace: string | undefined, name: string | undefined) => Promise<k8s.V1Pod | undefined>;

/** The hooks Attachments calls (see agent/attachments.ts). */
export interface AttachmentQosHooks {
  /** ADD, after the OVS port exists. Throws CniError 103 (InvalidBandwidth) for an invalid value. */
  add(t: QosTarget, call: { bandwidth?: BandwidthRuntimeConfig | undefined }): Promise<void>;
  /** DEL / teardown: removes every QoS object of the attachment. */
  remove(t: QosTarget): Promise<void>;
  /** CHECK: problems with the attachment's limits. */
  check(t: QosTarget, call: { bandwidth?: BandwidthRuntimeConfig | undefined }): Promise<string[]>;
  /** GC: removes QoS rows of attachments not in validKeys. */
  gc(validKeys: ReadonlySet<string>): Promise<string[]>;
}

export class AgentQos implements AttachmentQosHooks {
  constructor(
    readonly podQos: PodQos,
    private readonly podObject: PodLookup,
  ) {}

  private async desired(t: QosTarget, runtimeConfig: BandwidthRuntimeConfig | undefined): Promise<PodBandwidth> {
    const pod = await this.podObject(t.podNamespace, t.podName);
    return desiredBandwidth({ podAnnotations: pod ? (pod.metadata?.annotations ?? {}) : undefined, runtimeConfig });
  }

  async add(t: QosTarget, call: { bandwidth?: BandwidthRuntimeConfig | undefined }): Promise<void> {
    let bw: PodBandwidth;
    try {
      bw = await this.desired(t, call.bandwidth);
    } catch (e) {
      if (e instanceof BandwidthValueError) {
        throw new CniError(CniErrorCode.InvalidBandwidth, e.message, 'fix the pod\'s bandwidth annotation: a Kubernetes quantity in bits per second between 1k and 1P, e.g. 10M');
      }
      throw e;
    }
    await this.podQos.apply(t, bw, { fresh: true });
  }

  remove(t: QosTarget): Promise<void> {
    return this.podQos.remove(t);
  }

  async check(t: QosTarget, call: { bandwidth?: BandwidthRuntimeConfig | undefined }): Promise<string[]> {
    let bw: PodBandwidth;
    try {
      bw = await this.desired(t, call.bandwidth);
    } catch (e) {
      return [errorMessage(e)];
    }
    return this.podQos.check(t, bw);
  }

  gc(validKeys: ReadonlySet<string>): Promise<string[]> {
    return this.podQos.gc(validKeys);
  }

  /**
   * A Pod was added or changed in the API: bring the limits of its attachments on this node to its
   * annotations. An invalid value is logged with the pod's name and the previous limit stays.
   */
  async onPod(type: 'add' | 'update' | 'delete', pod: k8s.V1Pod, attachments: readonly QosTarget[]): Promise<void> {
    if (type === 'delete') return; // the runtime's DEL removes the limits with the sandbox
    const ns = pod.metadata?.namespace;
    const name = pod.metadata?.name;
    const mine = attachments.filter((a) => a.podNamespace === ns && a.podName === name);
    if (mine.length === 0) return;
    let bw: PodBandwidth;
    try {
      bw = bandwidthFromAnnotations(pod.metadata?.annotations ?? {});
    } catch (e) {
      const previous = this.podQos.current(mine[0]!);
      log.warn('invalid bandwidth annotation on a running pod: keeping the previous limits', {
        pod: `${ns}/${name}`,
        error: errorMessage(e),
        keeping: describeBandwidth(previous ?? {}),
      });
      return;
    }
    for (const a of mine) {
      try {
        await this.podQos.apply(a, bw);
      } catch (e) {
        log.error('updating the bandwidth limits of a running pod failed', { pod: `${ns}/${name}`, limits: describeBandwidth(bw), error: errorMessage(e) });
      }
    }
  }

  /** After a restart: bring every attachment whose Pod is known to its annotations. */
  async resync(pods: readonly k8s.V1Pod[], attachments: readonly QosTarget[]): Promise<void> {
    for (const pod of pods) await this.onPod('update', pod, attachments);
  }
}
