// The shim's minimal HTTP/1.1 client: request bytes and response parsing (framing, truncation, junk).
import assert from 'node:assert/strict';
import { encodeRequest, parseResponse } from '../src/agent-client.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('cni agent client: HTTP framing', () => {
  it('encodes a POST to /v1/cni with Host, Content-Length in bytes (not characters) and Connection: close', () => {
    const text = encodeRequest('{"x":"é"}').toString('utf8');
    const [head, body] = text.split('\r\n\r\n');
    assert.equal(body, '{"x":"é"}');
    const lines = head!.split('\r\n');
    assert.equal(lines[0], 'POST /v1/cni HTTP/1.1');
    assert.ok(lines.includes('Content-Length: 10'), lines.join('|'));
    assert.ok(lines.includes('Connection: close'));
    assert.ok(lines.some((l) => l.startsWith('Host: ')));
  });
  it('parses a Content-Length response, only once all its bytes are there', () => {
    const full = b('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 7\r\n\r\n{"a":1}');
    assert.deepEqual(parseResponse(full.subarray(0, full.length - 2), false), { state: 'incomplete' });
    const r = parseResponse(full, false);
    assert.equal(r.state, 'complete');
    assert.equal(r.state === 'complete' && r.status, 200);
    assert.equal(r.state === 'complete' && r.body.toString(), '{"a":1}');
  });
  it('reports a body cut short by the end of the connection as truncated', () => {
    const r = parseResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"a"'), true);
    assert.equal(r.state, 'truncated');
    assert.equal(parseResponse(b('HTTP/1.1 200 O'), true).state, 'truncated');
  });
  it('decodes chunked bodies and bodies that run to the end of the connection', () => {
    const chunked = b('HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n');
    const r = parseResponse(chunked, false);
    assert.equal(r.state === 'complete' && `${r.status} ${r.body.toString()}`, '503 {"a":1}');
    assert.deepEqual(parseResponse(b('HTTP/1.1 200 OK\r\n\r\nabc'), false), { state: 'incomplete' });
    const eof = parseResponse(b('HTTP/1.1 200 OK\r\n\r\nabc'), true);
    assert.equal(eof.state === 'complete' && eof.body.toString(), 'abc');
  });
  it('calls junk malformed, naming what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['SSH-2.0-OpenSSH\r\n\r\n', /bad status line/],
      ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /bad header line/],
      ['HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n', /bad Content-Length/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /bad chunk size/],
    ];
    for (const [text, why] of cases) {
      const r = parseResponse(b(text), false);
      assert.equal(r.state, 'malformed', text);
      assert.match(r.state === 'malformed' ? r.why : '', why);
    }
    assert.equal(parseResponse(Buffer.alloc(20_000, 0x61), false).state, 'malformed');
  });
});
