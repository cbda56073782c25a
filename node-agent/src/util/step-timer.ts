// Wall time of consecutive steps of one operation (e.g. the parts of a CNI ADD), for logs.
import { performance } from 'node:perf_hooks';

export class StepTimer {
  private last = performance.now();
  /** step name -> ms, in the order the steps ended */
  readonly laps: Record<string, number> = {};

  lap(step: string): void {
    const now = performance.now();
    this.laps[step] = Math.round((now - this.last) * 10) / 10;
    this.last = now;
  }
}
