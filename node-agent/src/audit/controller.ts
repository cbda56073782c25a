// Policy audit logging: for pods in namespaces annotated loom.io/policy-audit: "true", new
// connections allowed or denied by NetworkPolicy are logged as JSON lines to <auditLogDir>/audit.log
// with the deciding rule. Level-triggered: every second the desired audit flows are recomputed from
// the agent's state and, when they differ from what was installed, applied in one bundle; every 15 s
// the installed audit flows are checked in OVS (a vswitchd restart loses them) and reinstalled.
import { execa } from 'execa';
import { isIPv4 } from 'node:net';
import { podInfoOf } from '../agent/policy-controller.js';
import { CookieKind, decodeCookie } from '../pipeline/cookie.js';
import { Table } from '../pipeline/flow.js';
import type { AgentIntrospection } from '../debugapi/types.js';
import { isolatingPolicies } from '../debugapi/policies.js';
import { errorMessage, logger } from '../util/log.js';
import { namespaceAudited } from './annotation.js';
import { AUDIT_COOKIE_MAGIC, AUDIT_COOKIE_MASK } from './cookie.js';
import { auditBundle, auditFlows, type AuditedPod, type AuditFlow } from './flows.js';
import { PacketInMonitor } from './monitor.js';
import type { PacketIn } from './packetin.js';
import { auditRecord, type RecordContext } from './record.js';
import { AuditWriter } from './writer.js';

const log = logger('audit');

export interface AuditControllerOptions {
  agent: AgentIntrospection;
  /** ovs-ofctl target of the bridge, unix:<rundir>/<bridge>.mgmt */
  ofctlTarget: string;
  /** unixctl socket path for the monitor process */
  monitorUnixctl: string;
  auditLogDir: string;
  /** packet-ins per second OVS lets through (default 100) */
  meterPps?: number;
  /** audit lines per second and burst (defaults 20 / 40) */
  ratePerSecond?: number;
  burst?: number;
  pollMs?: number;
  verifyMs?: number;
}

export class AuditController {
  readonly writer: AuditWriter;
  readonly monitor: PacketInMonitor;
  private installed = new Map<string, AuditFlow>();
  private poll: NodeJS.Timeout | undefined;
  private lastVerify = 0;
  private busy = false;
  private dedupe = new Map<string, number>();

  constructor(private readonly o: AuditControllerOptions) {
    this.writer = new AuditWriter({ dir: o.auditLogDir, ...(o.ratePerSecond ? { ratePerSecond: o.ratePerSecond } : {}), ...(o.burst ? { burst: o.burst } : {}) });
    this.monitor = new PacketInMonitor({ target: o.ofctlTarget, unixctl: o.monitorUnixctl, meterPps: o.meterPps ?? 100, onPacketIn: (p) => this.onPacketIn(p) });
  }

  async start(): Promise<void> {
    await this.monitor.ensureMeter();
    await this.monitor.start();
    await this.tick();
    this.poll = setInterval(() => void this.tick(), this.o.pollMs ?? 1000);
    log.info('policy audit ready', { file: this.writer.file });
  }

  async stop(): Promise<void> {
    clearInterval(this.poll);
    await this.monitor.stop();
    await this.writer.flush();
  }

  /** Audited local pods with the directions the policy compiler isolates them in. */
  auditedPods(): AuditedPod[] {
    const a = this.o.agent;
    const audited = new Set(a.namespaces().filter((n) => namespaceAudited(n)).map((n) => n.metadata?.name));
    if (audited.size === 0) return [];
    const isolatedEgress = new Set<string>();
    const isolatedIngress = new Set<string>();
    for (const f of a.policyFlows()) {
      const d = decodeCookie(f.cookie);
      if (d.kind !== CookieKind.PolicyIsolation) continue;
      if (f.table === Table.EgressDefault && f.match.nwSrc) isolatedEgress.add(f.match.nwSrc);
      if (f.table === Table.IngressDefault && f.match.nwDst) isolatedIngress.add(f.match.nwDst);
    }
    return a
      .attachments()
      .filter((x) => x.podNamespace && x.podName && audited.has(x.podNamespace))
      .map((x) => ({ pod: `${x.podNamespace}/${x.podName}`, ip: x.ip, isolated: { egress: isolatedEgress.has(x.ip), ingress: isolatedIngress.has(x.ip) } }));
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      this.writer.reportSuppressed();
      const net = this.o.agent.network();
      if (!net) return;
      const desired = auditFlows(net, this.auditedPods());
      if (Date.now() - this.lastVerify > (this.o.verifyMs ?? 15000)) {
        this.lastVerify = Date.now();
        const inOvs = await this.countInstalled();
        if (inOvs !== this.installed.size) {
          if (this.installed.size > 0) log.warn('policy audit flows missing in OVS (vswitchd restart?); reinstalling', { expected: this.installed.size, found: inOvs });
          await this.bundle(`flow delete cookie=0x${(AUDIT_COOKIE_MAGIC << 48n).toString(16)}/0x${AUDIT_COOKIE_MASK.toString(16)}\n`);
          this.installed.clear();
        }
      }
      const text = auditBundle(this.installed, desired);
      if (text !== '') {
        await this.bundle(text);
        this.installed = new Map(desired.map((f) => [f.key, f]));
        log.info('policy audit flows updated', { pods: new Set(desired.map((f) => f.cookie & 0xffff_ffffn)).size, flows: desired.length });
      }
    } catch (e) {
      log.warn('updating policy audit flows failed; retrying', { error: errorMessage(e) });
      this.lastVerify = 0;
    } finally {
      this.busy = false;
    }
  }

  private async bundle(text: string): Promise<void> {
    const r = await execa('ovs-ofctl', ['-O', 'OpenFlow15', 'bundle', this.o.ofctlTarget, '-'], { input: text, reject: false, timeout: 20000 });
    if (r.exitCode !== 0) throw new Error(`ovs-ofctl bundle on ${this.o.ofctlTarget} failed: ${r.stderr.trim()}`);
  }

  private async countInstalled(): Promise<number> {
    const sel = `cookie=0x${(AUDIT_COOKIE_MAGIC << 48n).toString(16)}/0x${AUDIT_COOKIE_MASK.toString(16)}`;
    const r = await execa('ovs-ofctl', ['-O', 'OpenFlow15', 'dump-flows', '--no-stats', this.o.ofctlTarget, sel], { reject: false, timeout: 20000 });
    if (r.exitCode !== 0) throw new Error(`ovs-ofctl dump-flows on ${this.o.ofctlTarget} failed: ${r.stderr.trim()}`);
    return r.stdout.split('\n').filter((l) => l.includes('cookie=')).length;
  }

  private recordContext(): RecordContext {
    const a = this.o.agent;
    const local = a.attachments();
    const pods = a.pods();
    const byIp = new Map<string, string>();
    for (const p of pods) {
      const info = podInfoOf(p);
      for (const ip of info?.ips ?? []) if (isIPv4(ip)) byIp.set(ip, `${info!.namespace}/${info!.name}`);
    }
    for (const x of local) if (x.podNamespace && x.podName) byIp.set(x.ip, `${x.podNamespace}/${x.podName}`);
    const localIps = new Set(local.map((x) => x.ip));
    const policies = a.networkPolicies();
    const labelsOf = (pod: string) => pods.find((p) => `${p.metadata?.namespace}/${p.metadata?.name}` === pod)?.metadata?.labels ?? {};
    return {
      node: a.nodeName,
      rules: a.ruleIndex(),
      podByIp: (ip) => byIp.get(ip),
      isLocal: (ip) => localIps.has(ip),
      isolatingPolicies: (pod, dir) => isolatingPolicies(policies, pod.split('/')[0] ?? '', labelsOf(pod), dir),
    };
  }

  private onPacketIn(p: PacketIn): void {
    // a denied SYN is retransmitted: log one connection attempt once per 2 s
    const key = `${p.cookie}|${p.protocol}|${p.srcIp}|${p.srcPort ?? ''}|${p.dstIp}|${p.dstPort ?? ''}`;
    const now = Date.now();
    if ((this.dedupe.get(key) ?? 0) > now - 2000) return;
    this.dedupe.set(key, now);
    if (this.dedupe.size > 10000) for (const [k, t] of this.dedupe) if (t < now - 2000) this.dedupe.delete(k);
    const rec = auditRecord(p, this.recordContext());
    if (rec) this.writer.write(rec);
  }
}
