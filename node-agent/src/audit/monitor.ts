// Long-lived packet-in reader: `ovs-ofctl monitor <bridge mgmt> 65534 -P nxt_packet_in` (it prints on stderr), restarted
// with a backoff whenever it exits (vswitchd restart, crash). Also (re)installs the `controller`
// meter that caps packet-ins in OVS itself, so a flood never reaches the agent.
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
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

  async start(): Promise<void> {
    this.stopped = false;
    await this.stopLeftover();
    this.spawn();
  }

  /**
   * A reader started by a previous agent process that was killed (SIGKILL, OOM, crash) outlives it:
   * nothing signals a child when its parent dies. It still listens on our unixctl socket (the
   * newest reader owns the path), so ask it to exit before starting ours; otherwise every agent
   * crash leaves one more ovs-ofctl process and OpenFlow connection behind for good.
   */
  private async stopLeftover(): Promise<void> {
    if (!existsSync(this.o.unixctl)) return;
    const r = await execa('ovs-appctl', ['-t', this.o.unixctl, 'exit'], { reject: false, timeout: 5000 });
    if (r.exitCode !== 0) return; // a stale socket file: nobody listens, ours replaces it
    // The old reader removes the socket path as it exits; wait for that, or it could remove the
    // path our new reader has just bound and leave that one unreachable for the next start.
    for (let i = 0; i < 50 && existsSync(this.o.unixctl); i++) await new Promise((res) => setTimeout(res, 20));
    log.info('stopped the packet-in reader of a previous agent process', { unixctl: this.o.unixctl });
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
    // ovs-ofctl monitor prints the messages it receives on stderr (unbuffered), next to its own
    // log lines; read both streams, each with its own parser, and keep a tail for error messages.
    const p = execa('ovs-ofctl', ['-O', 'OpenFlow15', `--unixctl=${this.o.unixctl}`, 'monitor', this.o.target, '65534', '-P', 'nxt_packet_in'], {
      reject: false,
      buffer: false,
      stdin: 'ignore',
    });
    this.proc = p;
    let tail = '';
    for (const stream of [p.stdout, p.stderr]) {
      const parser = new PacketInParser();
      let pending = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          const pin = parser.push(line);
          if (pin) {
            this.backoffMs = 500;
            this.o.onPacketIn(pin);
          } else if (!line.startsWith(' ') && !/^[a-z]+,/.test(line)) {
            tail = `${tail}\n${line}`.slice(-1000);
          }
        }
      });
    }
    void p.then((r) => {
      if (this.proc === p) this.proc = undefined;
      if (this.stopped) return;
      this.restarts++;
      log.warn('policy audit packet-in reader exited; restarting', { exitCode: r.exitCode, signal: r.signal, output: tail.trim().slice(-300), inMs: this.backoffMs });
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
