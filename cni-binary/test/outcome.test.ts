import assert from 'node:assert/strict';
import type { AgentReply } from '../src/agent-client.js';
import { CniFailure } from '../src/errors.js';
import { agentOutcome, asFailure, failureOutcome, parseShimResponse, successOutcome } from '../src/outcome.js';
import { assertCniError } from './support/assert-cni.js';

const SOCK = '/run/loom/test.sock';
const reply = (status: number, body: unknown): AgentReply =>
  ({ kind: 'reply', status, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('cni outcome: printing', () => {
  it('prints a result as JSON with exit 0, and nothing for an undefined result', () => {
    assert.deepEqual(successOutcome({ cniVersion: '1.0.0' }), { stdout: '{"cniVersion":"1.0.0"}\n', exitCode: 0 });
    assert.deepEqual(successOutcome(undefined), { stdout: '', exitCode: 0 });
  });
  it('prints failures as the CNI error object with exit 1', () => {
    const out = failureOutcome(new CniFailure(7, 'bad', 'why'), '0.4.0');
    assert.equal(out.exitCode, 1);
    assert.deepEqual(JSON.parse(out.stdout), { cniVersion: '0.4.0', code: 7, msg: 'bad', details: 'why' });
  });
  it('turns unexpected errors into code 5 without a stack', () => {
    const f = asFailure(new TypeError('x is undefined'));
    assert.equal(f.code, 5);
    assert.match(f.message, /TypeError: x is undefined/);
    assert.equal(asFailure('str').code, 5);
  });
});

describe('cni outcome: agent replies', () => {
  it('passes an ok result through and prints nothing for an empty one', () => {
    const result = { cniVersion: '1.0.0', ips: [{ address: '10.244.1.5/24' }] };
    const out = agentOutcome('ADD', SOCK, reply(200, { protocolVersion: 1, ok: true, result }), '1.0.0');
    assert.deepEqual(out, { stdout: JSON.stringify(result) + '\n', exitCode: 0 });
    assert.deepEqual(agentOutcome('DEL', SOCK, reply(200, { protocolVersion: 1, ok: true }), '1.0.0'), { stdout: '', exitCode: 0 });
  });
  it('passes the agent error object through with exit 1', () => {
    const error = { cniVersion: '1.0.0', code: 100, msg: 'no free IP in 10.244.1.0/24', details: 'd' };
    const out = agentOutcome('ADD', SOCK, reply(200, { protocolVersion: 1, ok: false, error }), '1.0.0');
    assert.equal(out.exitCode, 1);
    assert.deepEqual(JSON.parse(out.stdout), error);
  });
  it('fills a missing cniVersion in an agent error and drops unknown keys', () => {
    const out = agentOutcome('ADD', SOCK, reply(200, { protocolVersion: 1, ok: false, error: { code: 3, msg: 'm', extra: 1 } }), '0.4.0');
    assert.deepEqual(JSON.parse(out.stdout), { cniVersion: '0.4.0', code: 3, msg: 'm' });
  });
  it('maps unreachable, timeout and 503 to 11, naming the socket and errno', () => {
    const unreachable = agentOutcome('ADD', SOCK, { kind: 'unreachable', errno: 'ECONNREFUSED', connected: false }, '1.0.0');
    const e = assertCniError(unreachable.stdout, 11);
    assert.equal(e.msg, `loom-agent is not reachable at ${SOCK} (ECONNREFUSED): check that the loom-agent pod on this node is running`);
    assert.match(assertCniError(agentOutcome('ADD', SOCK, { kind: 'timeout', timeoutMs: 120000 }, '1.0.0').stdout, 11).msg, /within 120 s/);
    assert.match(assertCniError(agentOutcome('DEL', SOCK, reply(503, 'not ready'), '1.0.0').stdout, 11).msg, /not ready/);
    assertCniError(agentOutcome('GC', SOCK, { kind: 'unreachable', errno: 'ECONNRESET', connected: true }, '1.0.0').stdout, 11);
  });
  it('keeps the agent\'s reason for a 503 in details', () => {
    const body = { protocolVersion: 1, ok: false, error: { cniVersion: '1.1.0', code: 11, msg: 'loom-agent is not ready yet: OVS not connected' } };
    const e = assertCniError(agentOutcome('ADD', SOCK, reply(503, body), '1.0.0').stdout, 11);
    assert.equal(e.details, 'loom-agent says: loom-agent is not ready yet: OVS not connected');
  });
  it('maps an unavailable agent to 50 for STATUS', () => {
    assertCniError(agentOutcome('STATUS', SOCK, { kind: 'unreachable', errno: 'ENOENT', connected: false }, '1.1.0').stdout, 50);
    assertCniError(agentOutcome('STATUS', SOCK, reply(503, ''), '1.1.0').stdout, 50);
  });
  it('maps 413 to 7', () => {
    assert.match(assertCniError(agentOutcome('ADD', SOCK, reply(413, ''), '1.0.0').stdout, 7).msg, /too large/);
  });
  it('maps garbage, wrong shapes and odd statuses to 5', () => {
    const bad: AgentReply[] = [
      reply(200, 'garbage'),
      reply(200, ''),
      reply(200, []),
      reply(200, { ok: true }),
      reply(200, { protocolVersion: 1, ok: 'yes' }),
      reply(200, { protocolVersion: 1, ok: false, error: { code: '7', msg: 'm' } }),
      reply(200, { protocolVersion: 1, ok: false, error: { code: 0, msg: 'm' } }),
      reply(500, { protocolVersion: 1, ok: true }),
      reply(404, 'not found'),
      { kind: 'reply-too-large', limit: 10 },
    ];
    for (const r of bad) assertCniError(agentOutcome('ADD', SOCK, r, '1.0.0').stdout, 5);
  });
  it('accepts a CNI error body on a non-200 status', () => {
    const out = agentOutcome('ADD', SOCK, reply(400, { protocolVersion: 1, ok: false, error: { cniVersion: '1.0.0', code: 4, msg: 'm' } }), '1.0.0');
    assertCniError(out.stdout, 4);
  });
  it('parseShimResponse returns null for non-responses', () => {
    assert.equal(parseShimResponse('{"protocolVersion":1}', '1.0.0'), null);
    assert.deepEqual(parseShimResponse('{"protocolVersion":1,"ok":true,"result":5}', '1.0.0'), { ok: true, result: 5 });
  });
});
