// Read the network configuration from stdin with a size bound.
//
// The fast path reads file descriptor 0 with blocking readSync: touching `process.stdin` builds a
// stream (and loads net/tty for a pipe), which costs ~10 ms of start-up. Runtimes write the whole
// configuration and close the pipe, so a blocking read ends at EOF. If fd 0 is non-blocking
// (EAGAIN), the rest is read through the stream.
import { readSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { CniFailure } from './errors.js';
import { CniErrorCode } from './spec.js';

export type StdinStream = Readable & { isTTY?: boolean };

/** Standard input as a file descriptor, with the stream to fall back on (created only if needed). */
export class FdStdin {
  constructor(
    readonly fd: number,
    readonly stream: () => StdinStream,
  ) {}
}

export type StdinSource = FdStdin | StdinStream;

const tooLarge = (limit: number): CniFailure =>
  new CniFailure(CniErrorCode.InvalidConfig,
    `network configuration on stdin is too large: more than ${limit} bytes (the limit is ${limit} bytes)`,
    'shrink the network configuration (prevResult, runtimeConfig)');

const readFailure = (code: string): CniFailure =>
  new CniFailure(CniErrorCode.IoFailure, `cannot read the network configuration from stdin (${code})`,
    'the runtime must pass the configuration on stdin');

function decodeUtf8(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CniFailure(CniErrorCode.DecodeFailure, 'cannot decode the network configuration: stdin is not valid UTF-8');
  }
}

/**
 * Read all of stdin as UTF-8. More than `limit` bytes -> code 7 (naming the limit), a read error ->
 * code 5, bytes that are not UTF-8 -> code 6.
 */
export async function readStdin(source: StdinSource, limit: number): Promise<string> {
  if (!(source instanceof FdStdin)) return decodeUtf8(await readStreamBytes(source, limit));
  const head = readFdBytes(source.fd, limit);
  if (head.complete) return decodeUtf8(head.bytes);
  const tail = await readStreamBytes(source.stream(), limit - head.bytes.length);
  return decodeUtf8(Buffer.concat([head.bytes, tail]));
}

/** The stream of a source (VERSION reads with a timeout, which only a stream allows). */
export function stdinStream(source: StdinSource): StdinStream {
  return source instanceof FdStdin ? source.stream() : source;
}

/** Blocking reads until EOF; `complete: false` when the descriptor is non-blocking and has no data yet. */
export function readFdBytes(fd: number, limit: number): { bytes: Buffer; complete: boolean } {
  const chunks: Buffer[] = [];
  let size = 0;
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return { bytes: Buffer.concat(chunks), complete: false };
      if (code === 'EINTR') continue;
      if (code === 'EOF') break; // Windows-style EOF report; harmless elsewhere
      throw readFailure(code);
    }
    if (n === 0) break;
    size += n;
    if (size > limit) throw tooLarge(limit);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return { bytes: Buffer.concat(chunks), complete: true };
}

/** Read a stream to the end with the same bounds and errors (code 7 over the limit, code 5 on error). */
export function readStreamBytes(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: CniFailure | null): void => {
      if (settled) return;
      settled = true;
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      if (err) {
        stream.pause();
        reject(err);
      } else {
        resolve(Buffer.concat(chunks));
      }
    };
    const onData = (chunk: Buffer | string): void => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += buf.length;
      if (size > limit) {
        finish(tooLarge(limit));
        return;
      }
      chunks.push(buf);
    };
    const onEnd = (): void => finish(null);
    const onError = (err: Error): void => finish(readFailure((err as NodeJS.ErrnoException).code ?? err.message));
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
