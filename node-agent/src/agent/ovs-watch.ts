// Detects an ovs-vswitchd restart (its pid changes or it comes back after being gone). A restarted
// vswitchd has lost every OpenFlow flow while ports survive in OVSDB, so the agent must replay all
// flows at once. Reads the pidfile every interval: no process spawn, no OpenFlow traffic.
import { readFile } from 'node:fs/promises';
import { logger } from '../util/log.js';

const log = logger('ovs-watch');

export class VswitchdWatch {
  private timer: NodeJS.Timeout | undefined;
  private lastPid: number | undefined;

  constructor(
    private readonly pidFile: string,
    private readonly onRestart: (pid: number) => void,
    private readonly onGone: () => void,
    private readonly intervalMs = 200,
  ) {}

  private async readPid(): Promise<number | undefined> {
    const text = await readFile(this.pidFile, 'utf8').catch(() => '');
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
    }
    return pid;
  }

  async start(): Promise<void> {
    this.lastPid = await this.readPid();
    const tick = async () => {
      const pid = await this.readPid();
      if (pid !== this.lastPid) {
        if (pid === undefined) {
          log.warn('ovs-vswitchd is gone; waiting for it to come back', { pidFile: this.pidFile });
          this.onGone();
        } else {
          log.warn('ovs-vswitchd (re)started; replaying every flow', { pid, previousPid: this.lastPid });
          this.onRestart(pid);
        }
        this.lastPid = pid;
      }
      this.timer = setTimeout(() => void tick(), this.intervalMs);
    };
    this.timer = setTimeout(() => void tick(), this.intervalMs);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
