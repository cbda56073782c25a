// Thin wrapper over `ovs-appctl -t <ctl>` (unixctl of ovs-vswitchd or ovsdb-server) with validated
// arguments: routes and neighbours for userspace tunnelling, datapath listing, packet traces.
import { execa } from 'execa';
import { canonicalIpv4Cidr, checkIfName, checkIpv4, checkMac, invalid } from './validate.js';

export interface AppctlOptions {
  /** unixctl socket, e.g. `/var/run/openvswitch/ovs-vswitchd.<pid>.ctl` or `<rundir>/ovs-vswitchd.ctl` */
  target: string;
  appctlPath?: string;
  timeoutMs?: number;
}

const COMMAND_RE = /^[a-z][a-z0-9-]*(\/[a-z0-9-]+)*$/;
/** Arguments: no option lookalikes, no whitespace or control characters. */
const ARG_RE = /^[A-Za-z0-9_.:/,=()\[\]+>-]+$/;

export class OvsAppctl {
  readonly target: string;
  private readonly appctl: string;
  private readonly timeoutMs: number;

  constructor(opts: AppctlOptions) {
    if (!opts.target.startsWith('/') || /\s/.test(opts.target)) throw invalid('unixctl target', opts.target, 'an absolute path to a .ctl socket');
    this.target = opts.target;
    this.appctl = opts.appctlPath ?? 'ovs-appctl';
    this.timeoutMs = opts.timeoutMs ?? 10000;
  }

  /** Runs one unixctl command and returns its output. */
  async call(command: string, args: string[] = []): Promise<string> {
    if (!COMMAND_RE.test(command)) throw invalid('ovs-appctl command', command, 'a command like ovs/route/add');
    for (const a of args) {
      if (!ARG_RE.test(a) || a.startsWith('-')) throw invalid(`argument of ${command}`, a, 'a token of [A-Za-z0-9_.:/,=()[]+>-] not starting with "-"');
    }
    const r = await execa(this.appctl, ['-t', this.target, command, ...args], { reject: false, timeout: this.timeoutMs });
    if (r.exitCode !== 0 || r.timedOut) {
      const why = r.timedOut ? `timed out after ${this.timeoutMs} ms` : `exit code ${r.exitCode}`;
      throw new Error(`ovs-appctl ${command} via ${this.target} failed (${why}): ${(r.stderr || r.stdout).trim()}; is the daemon running?`);
    }
    return r.stdout;
  }

  /** `ovs/route/add PREFIX BRIDGE [GW]`: route used by userspace tunnels. */
  async routeAdd(prefix: string, bridge: string, gateway?: string): Promise<void> {
    const p = canonicalIpv4Cidr('route prefix', prefix);
    if (p === null) throw invalid('route prefix', prefix, 'a prefix longer than /0');
    const cidr = p.includes('/') ? p : `${p}/32`;
    await this.call('ovs/route/add', [cidr, checkIfName('bridge', bridge), ...(gateway === undefined ? [] : [checkIpv4('gateway', gateway)])]);
  }

  async routeDel(prefix: string): Promise<void> {
    const p = canonicalIpv4Cidr('route prefix', prefix);
    if (p === null) throw invalid('route prefix', prefix, 'a prefix longer than /0');
    await this.call('ovs/route/del', [p.includes('/') ? p : `${p}/32`]);
  }

  async routeShow(): Promise<string> {
    return this.call('ovs/route/show');
  }

  /** `tnl/neigh/set BRIDGE IP MAC`: preseeds the VTEP MAC so the first packet to a node is not lost. */
  async tnlNeighSet(bridge: string, ip: string, mac: string): Promise<void> {
    await this.call('tnl/neigh/set', [checkIfName('bridge', bridge), checkIpv4('neighbour ip', ip), checkMac('neighbour mac', mac)]);
  }

  async dpifShow(): Promise<string> {
    return this.call('dpif/show');
  }

  /** `ofproto/trace BRIDGE FLOW`, e.g. flow = "in_port=3,icmp,nw_src=10.0.0.2,nw_dst=10.0.0.3". */
  async ofprotoTrace(bridge: string, flow: string): Promise<string> {
    return this.call('ofproto/trace', [checkIfName('bridge', bridge), flow]);
  }
}
