// Long-lived packet-in reader: `ovs-ofctl monitor <bridge mgmt> 65534 -P nxt_packet_in`, restarted
// with a backoff whenever it exits (vswitchd restart, crash). Also (re)installs the `controller`
// meter that caps packet-ins in OVS itself, so a flood never reaches the agent.
import { execa, type ResultPromise } from 'execa';
import { errorMessage, logger } from '../util/log.js';
import { PacketInParser, type PacketIn } from './packetin.js';

const log = logger('audit');

export interface MonitorOptions {
  /** ovs-ofctl target, unix:<rundir>/<bridge>.mgmt */
  target: string;
  /** unixctl socket path for the ovs-ofctl process (it wants one; must be writable) */
  unixctl: string;
  /** packet-ins per second OVS lets through (controller meter) */
  meterPps: number;
  onPacketIn: (p: PacketIn) => void;
}

const SAFE_RE = /^[A-Za-z0-9_./:-]+$/;

export class PacketInMonitor {
  private proc: ResultPromise | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs = 500;
  restarts = 0;

  constructor(private readonly o: MonitorOptions) {
    if (!SAFE_RE.test(o.target) || !SAFE_RE.test(o.unixctl) || !o.unixctl.startsWith('/')) throw new Error(`audit monitor: invalid target "${o.target}" or unixctl "${o.unixctl}"`);
    if (!Number.isInteger(o.meterPps) || o.meterPps < 1) throw new Error(`audit monitor: meter rate must be a positive integer, got ${o.meterPps}`);
  }

  start(): void {
    this.stopped = false;
    this.spawn();
  }

  /** Controller meter: `meter=controller` limits every packet-in of the bridge. */
  async ensureMeter(): Promise<void> {
    const spec = `meter=controller,pktps,burst,band=type=drop,rate=${this.o.meterPps},burst_size=${this.o.meterPps}`;
    const r = await execa('ovs-ofctl', ['-O', 'OpenFlow15', 'mod-meter', this.o.target, spec], { reject: false, timeout: 10000 });
    if (r.exitCode === 0) return;
    const a = await execa('ovs-ofctl', ['-O', 'OpenFlow15', 'add-meter', this.o.target, spec], { reject: false, timeout: 10000 });
    if (a.exitCode !== 0) log.warn('cannot install the controller meter; audit packet-ins are limited by the agent only', { error: (a.stderr || r.stderr).trim() });
  }

  private spawn(): void {
    if (this.stopped) return;
    const parser = new PacketInParser();
    // stdbuf -o0: ovs-ofctl writes through stdio, block-buffered on a pipe (-oL is not enough, measured)
    const p = execa('stdbuf', ['-o0', 'ovs-ofctl', '-O', 'OpenFlow15', `--unixctl=${this.o.unixctl}`, 'monitor', this.o.target, '65534', '-P', 'nxt_packet_in'], {
      reject: false,
      buffer: false,
      stdin: 'ignore',
    });
    this.proc = p;
    let pending = '';
    p.stdout?.setEncoding('utf8');
    p.stdout?.on('data', (chunk: string) => {
      this.backoffMs = 500;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const pin = parser.push(line);
        if (pin) this.o.onPacketIn(pin);
      }
    });
    let stderr = '';
    p.stderr?.setEncoding('utf8');
    p.stderr?.on('data', (c: string) => void (stderr = (stderr + c).slice(-2000)));
    void p.then((r) => {
      if (this.proc === p) this.proc = undefined;
      if (this.stopped) return;
      this.restarts++;
      log.warn('policy audit packet-in reader exited; restarting', { exitCode: r.exitCode, signal: r.signal, stderr: stderr.trim().slice(-300), inMs: this.backoffMs });
      this.timer = setTimeout(() => {
        this.ensureMeter().catch((e) => log.warn('controller meter', { error: errorMessage(e) }));
        this.spawn();
      }, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 10000);
    });
  }

  /** The running reader's pid (tests kill it to check the restart). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const p = this.proc;
    this.proc = undefined;
    if (p) {
      p.kill('SIGTERM');
      await p;
    }
  }
}
