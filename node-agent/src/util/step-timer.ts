// Wall time of the steps of one operation (e.g. the parts of a CNI ADD), for logs: consecutive
// steps with lap(), steps running in parallel with track().
import { performance } from 'node:perf_hooks';

export class StepTimer {
  private last = performance.now();
  /** step name -> ms, in the order the steps ended */
  readonly laps: Record<string, number> = {};

  /** Records the time since the previous lap (or the start) under `step`. */
  lap(step: string): void {
    const now = performance.now();
    this.laps[step] = Math.round((now - this.last) * 10) / 10;
    this.last = now;
  }

  /** Records how long `work` takes from now until it settles (success or failure) under `step`. */
  track<T>(step: string, work: Promise<T>): Promise<T> {
    const start = performance.now();
    const record = () => {
      this.laps[step] = Math.round((performance.now() - start) * 10) / 10;
    };
    work.then(record, record);
    return work;
  }
}
