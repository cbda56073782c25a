// Append-only JSON-lines audit log with a token bucket in front and simple size rotation
// (audit.log -> audit.log.1 beyond maxBytes). Suppressed records are counted and reported in one
// {"event":"rate-limited","suppressed":N} line once logging resumes.
import { appendFile, mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, logger } from '../util/log.js';
import { TokenBucket } from './ratelimit.js';

const log = logger('audit');

export interface AuditWriterOptions {
  dir: string;
  ratePerSecond?: number;
  burst?: number;
  maxBytes?: number;
}

export const AUDIT_LOG_FILE = 'audit.log';
export const DEFAULT_AUDIT_RATE = 20;
export const DEFAULT_AUDIT_BURST = 40;

export class AuditWriter {
  readonly file: string;
  private readonly bucket: TokenBucket;
  private readonly maxBytes: number;
  private queue: Promise<void> = Promise.resolve();
  private ready: Promise<void>;

  constructor(o: AuditWriterOptions) {
    this.file = join(o.dir, AUDIT_LOG_FILE);
    this.bucket = new TokenBucket(o.ratePerSecond ?? DEFAULT_AUDIT_RATE, o.burst ?? DEFAULT_AUDIT_BURST);
    this.maxBytes = o.maxBytes ?? 50 * 1024 * 1024;
    this.ready = mkdir(o.dir, { recursive: true, mode: 0o750 }).then(() => undefined);
  }

  /** Queue one record; returns false when the rate limit refused it. */
  write(record: object): boolean {
    if (!this.bucket.take()) return false;
    const suppressed = this.bucket.drainSuppressed();
    const lines = (suppressed > 0 ? `${JSON.stringify({ time: new Date().toISOString(), event: 'rate-limited', suppressed })}\n` : '') + `${JSON.stringify(record)}\n`;
    this.queue = this.queue.then(() => this.append(lines));
    return true;
  }

  /** Writes the "rate-limited" summary now if records were refused since the last line. */
  reportSuppressed(): void {
    const suppressed = this.bucket.drainSuppressed();
    if (suppressed === 0) return;
    const line = `${JSON.stringify({ time: new Date().toISOString(), event: 'rate-limited', suppressed })}\n`;
    this.queue = this.queue.then(() => this.append(line));
  }

  /** Resolves when every queued line is on disk. */
  flush(): Promise<void> {
    return this.queue;
  }

  private async append(text: string): Promise<void> {
    try {
      await this.ready;
      const size = await stat(this.file).then((s) => s.size, () => 0);
      if (size > this.maxBytes) await rename(this.file, `${this.file}.1`);
      await appendFile(this.file, text, { mode: 0o640 });
    } catch (e) {
      log.warn('cannot write the policy audit log', { file: this.file, error: errorMessage(e) });
    }
  }
}
