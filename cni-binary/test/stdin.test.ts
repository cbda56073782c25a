import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { CniFailure } from '../src/errors.js';
import { FdStdin, readFdBytes, readStdin } from '../src/stdin.js';

async function failure(p: Promise<unknown>): Promise<CniFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CniFailure, `expected CniFailure, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a failure');
}

describe('cni stdin: readStdin from a stream', () => {
  it('reads everything across chunks, including multi-byte characters', async () => {
    const text = '{"name":"réseau-ü"}';
    const bytes = Buffer.from(text);
    const stream = Readable.from([bytes.subarray(0, 11), bytes.subarray(11)]);
    assert.equal(await readStdin(stream, 1000), text);
  });
  it('reads an empty stream as an empty string', async () => {
    assert.equal(await readStdin(Readable.from([]), 10), '');
  });
  it('accepts exactly the limit and rejects one byte more with 7 naming the limit', async () => {
    assert.equal(await readStdin(Readable.from([Buffer.alloc(8, 0x61)]), 8), 'aaaaaaaa');
    const err = await failure(readStdin(Readable.from([Buffer.alloc(5, 0x61), Buffer.alloc(4, 0x61)]), 8));
    assert.equal(err.code, 7);
    assert.match(err.message, /limit is 8 bytes/);
  });
  it('turns a read error into 5', async () => {
    const stream = new PassThrough();
    const p = readStdin(stream, 100);
    stream.destroy(Object.assign(new Error('boom'), { code: 'EIO' }));
    const err = await failure(p);
    assert.equal(err.code, 5);
    assert.match(err.message, /EIO/);
  });
  it('turns invalid UTF-8 into 6', async () => {
    const err = await failure(readStdin(Readable.from([Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]), 100));
    assert.equal(err.code, 6);
  });
});

describe('cni stdin: reading file descriptor 0 directly (FdStdin)', () => {
  let dir: string;
  const fds: number[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'loom-cni-stdin-'));
  });
  afterEach(() => {
    for (const fd of fds.splice(0)) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  const fdWith = (bytes: Buffer): number => {
    const file = join(dir, `in-${fds.length}`);
    writeFileSync(file, bytes);
    const fd = openSync(file, 'r');
    fds.push(fd);
    return fd;
  };
  const noStream = (): never => assert.fail('the stream must not be used when the descriptor reads to EOF');

  it('reads the whole configuration (larger than one read) without touching the stream', async () => {
    const text = `{"name":"réseau","pad":"${'x'.repeat(200_000)}"}`;
    assert.equal(await readStdin(new FdStdin(fdWith(Buffer.from(text)), noStream), 1024 * 1024), text);
  });
  it('applies the same limit (7), UTF-8 (6) and empty-input rules as the stream reader', async () => {
    assert.equal(await readStdin(new FdStdin(fdWith(Buffer.alloc(0)), noStream), 10), '');
    assert.equal(await readStdin(new FdStdin(fdWith(Buffer.alloc(8, 0x61)), noStream), 8), 'aaaaaaaa');
    const big = await failure(readStdin(new FdStdin(fdWith(Buffer.alloc(9, 0x61)), noStream), 8));
    assert.equal(big.code, 7);
    assert.match(big.message, /limit is 8 bytes/);
    const bad = await failure(readStdin(new FdStdin(fdWith(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), noStream), 100));
    assert.equal(bad.code, 6);
  });
  it('turns a read error (a closed descriptor) into 5', async () => {
    const fd = openSync(join(dir, 'x'), 'w');
    closeSync(fd);
    const err = await failure(readStdin(new FdStdin(fd, noStream), 100));
    assert.equal(err.code, 5);
    assert.match(err.message, /EBADF/);
  });
  it('a non-blocking descriptor with no data yet hands over to the stream, keeping what it read', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const rfd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    fds.push(rfd);
    const wfd = openSync(fifo, constants.O_WRONLY);
    fds.push(wfd);
    const text = '{"name":"é-net"}';
    const bytes = Buffer.from(text);
    // Split inside the two-byte "é": the first half comes from the descriptor, the rest from the stream.
    writeSync(wfd, bytes.subarray(0, 10));
    let streamUsed = false;
    const got = await readStdin(new FdStdin(rfd, () => {
      streamUsed = true;
      return Readable.from([bytes.subarray(10)]);
    }), 100);
    assert.equal(streamUsed, true);
    assert.equal(got, text);
    assert.deepEqual(readFdBytes(rfd, 100), { bytes: Buffer.alloc(0), complete: false });
  });
});
