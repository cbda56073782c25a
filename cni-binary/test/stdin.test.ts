import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { CniFailure } from '../src/errors.js';
import { readBounded } from '../src/stdin.js';

async function failure(p: Promise<unknown>): Promise<CniFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CniFailure, `expected CniFailure, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a failure');
}

describe('cni stdin: readBounded', () => {
  it('reads everything across chunks, including multi-byte characters', async () => {
    const text = '{"name":"réseau-ü"}';
    const bytes = Buffer.from(text);
    const stream = Readable.from([bytes.subarray(0, 11), bytes.subarray(11)]);
    assert.equal(await readBounded(stream, 1000), text);
  });
  it('reads an empty stream as an empty string', async () => {
    assert.equal(await readBounded(Readable.from([]), 10), '');
  });
  it('accepts exactly the limit and rejects one byte more with 7 naming the limit', async () => {
    assert.equal(await readBounded(Readable.from([Buffer.alloc(8, 0x61)]), 8), 'aaaaaaaa');
    const err = await failure(readBounded(Readable.from([Buffer.alloc(5, 0x61), Buffer.alloc(4, 0x61)]), 8));
    assert.equal(err.code, 7);
    assert.match(err.message, /limit is 8 bytes/);
  });
  it('turns a read error into 5', async () => {
    const stream = new PassThrough();
    const p = readBounded(stream, 100);
    stream.destroy(Object.assign(new Error('boom'), { code: 'EIO' }));
    const err = await failure(p);
    assert.equal(err.code, 5);
    assert.match(err.message, /EIO/);
  });
  it('turns invalid UTF-8 into 6', async () => {
    const err = await failure(readBounded(Readable.from([Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]), 100));
    assert.equal(err.code, 6);
  });
});
