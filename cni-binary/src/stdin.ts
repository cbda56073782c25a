// Read the network configuration from stdin with a size bound.
import type { Readable } from 'node:stream';
import { CniFailure } from './errors.js';
import { CniErrorCode } from './spec.js';

/**
 * Read a stream to the end as UTF-8. More than `limit` bytes -> code 7 (naming the limit),
 * a read error -> code 5, bytes that are not UTF-8 -> code 6.
 */
export function readBounded(stream: Readable, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: CniFailure | null, text?: string): void => {
      if (settled) return;
      settled = true;
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      if (err) {
        stream.pause();
        reject(err);
      } else {
        resolve(text ?? '');
      }
    };
    const onData = (chunk: Buffer | string): void => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += buf.length;
      if (size > limit) {
        finish(new CniFailure(CniErrorCode.InvalidConfig,
          `network configuration on stdin is too large: more than ${limit} bytes (the limit is ${limit} bytes)`,
          'shrink the network configuration (prevResult, runtimeConfig)'));
        return;
      }
      chunks.push(buf);
    };
    const onEnd = (): void => {
      try {
        finish(null, new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)));
      } catch {
        finish(new CniFailure(CniErrorCode.DecodeFailure, 'cannot decode the network configuration: stdin is not valid UTF-8'));
      }
    };
    const onError = (err: Error): void => {
      const code = (err as NodeJS.ErrnoException).code ?? err.message;
      finish(new CniFailure(CniErrorCode.IoFailure, `cannot read the network configuration from stdin (${code})`,
        'the runtime must pass the configuration on stdin'));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
