// runCni in-process against a stub agent on a unix socket.
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runCni } from '../src/cli.js';
import type { ShimRequest } from '../src/protocol.js';
import { assertCniError } from './support/assert-cni.js';
import { errorAnswer, makeTempDir, okAnswer, removeTempDir, startStubAgent, type StubAgent } from './support/stub-agent.js';

const input = (text: string): Readable => Readable.from([Buffer.from(text)]);

describe('cni cli: runCni with a stub agent', () => {
  let agent: StubAgent;
  let config: string;
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_NETNS: '/var/run/netns/p1', HOME: '/root' };

  beforeEach(async () => {
    agent = await startStubAgent();
    config = JSON.stringify({ cniVersion: '1.0.0', name: 'loom', type: 'loom', socketPath: agent.socketPath });
  });
  afterEach(async () => {
    await agent.stop();
  });

  it('POSTs the versioned request to /v1/cni and prints the result', async () => {
    agent.respond(() => okAnswer({ cniVersion: '1.0.0', ips: [{ address: '10.244.0.2/24' }] }));
    const out = await runCni(env, input(config));
    assert.equal(out.exitCode, 0);
    assert.deepEqual(JSON.parse(out.stdout), { cniVersion: '1.0.0', ips: [{ address: '10.244.0.2/24' }] });
    assert.equal(agent.requests.length, 1);
    const [req] = agent.requests;
    assert.equal(req?.method, 'POST');
    assert.equal(req?.url, '/v1/cni');
    const body = JSON.parse(req?.body ?? '') as ShimRequest;
    assert.deepEqual(body, { protocolVersion: 1, env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_NETNS: '/var/run/netns/p1' }, stdin: config });
  });

  it('reports an agent that never answers as 11 once the timeout passes', async () => {
    agent.respond(() => 'hang');
    const out = await runCni(env, input(config), { timeoutMs: 100 });
    assert.match(assertCniError(out.stdout, 11).msg, /did not answer ADD/);
  });

  it('validates before contacting the agent', async () => {
    const out = await runCni({ ...env, CNI_IFNAME: '..' }, input(config));
    assertCniError(out.stdout, 4);
    assert.equal(agent.requests.length, 0);
  });

  it('uses the config cniVersion in its own errors', async () => {
    agent.respond(() => errorAnswer(100, 'no free IP'));
    const out = await runCni({ ...env, CNI_NETNS: 'relative' }, input(config.replace('1.0.0', '0.4.0')));
    assert.equal(assertCniError(out.stdout, 4).cniVersion, '0.4.0');
  });
});

describe('cni cli: agent socket problems', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir();
  });
  afterEach(async () => {
    await removeTempDir(dir);
  });
  const env = { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' };
  const conf = (socketPath: string): string => JSON.stringify({ cniVersion: '1.1.0', name: 'loom', type: 'loom', socketPath });

  it('names ENOENT when the socket does not exist', async () => {
    const sock = join(dir, 'missing.sock');
    const out = await runCni(env, input(conf(sock)));
    assert.equal(assertCniError(out.stdout, 11).msg, `loom-agent is not reachable at ${sock} (ENOENT): check that the loom-agent pod on this node is running`);
  });
  it('names ECONNREFUSED when the path is not a listening socket', async () => {
    const sock = join(dir, 'file.sock');
    await writeFile(sock, '');
    await chmod(sock, 0o600);
    const out = await runCni(env, input(conf(sock)));
    assert.match(assertCniError(out.stdout, 11).msg, /\((ECONNREFUSED|ENOTSOCK)\)/);
  });
});
