// The real dist/loom-cni (Node SEA) run the way a container runtime runs it: minimal env, config on stdin.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ShimRequest } from '../src/protocol.js';
import { SUPPORTED_VERSIONS } from '../src/spec.js';
import { assertCniError } from './support/assert-cni.js';
import { ensureBinaryBuilt, LOOM_CNI_BINARY, runBinary, type RunResult } from './support/binary.js';
import { errorAnswer, okAnswer, startStubAgent, type StubAgent } from './support/stub-agent.js';

const CONTAINER_ID = 'f'.repeat(64);

function netconf(socketPath: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ cniVersion: '1.0.0', name: 'loom', type: 'loom', socketPath, ...extra });
}

function addEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { CNI_COMMAND: 'ADD', CNI_CONTAINERID: CONTAINER_ID, CNI_IFNAME: 'eth0', CNI_NETNS: '/var/run/netns/cni-1234', CNI_PATH: '/opt/cni/bin', ...extra };
}

function expectError(run: RunResult, code: number): string {
  assert.equal(run.exitCode, 1, `exit code; stdout=${run.stdout} stderr=${run.stderr}`);
  assert.equal(run.stderr, '', 'nothing on stderr');
  return assertCniError(run.stdout, code).msg;
}

function forwarded(agent: StubAgent, index = 0): ShimRequest {
  const req = agent.requests[index];
  assert.ok(req, `agent got request #${index}`);
  return JSON.parse(req.body) as ShimRequest;
}

describe('loom-cni executable', function () {
  let agent: StubAgent;

  before(function () {
    this.timeout(300_000);
    ensureBinaryBuilt();
  });
  beforeEach(async () => {
    agent = await startStubAgent();
  });
  afterEach(async () => {
    await agent.stop();
  });

  describe('VERSION', () => {
    it('answers with dummy env and empty stdin without contacting the agent', async () => {
      const run = await runBinary({ CNI_COMMAND: 'VERSION', CNI_CONTAINERID: 'dummy', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy' }, '');
      assert.equal(run.exitCode, 0);
      assert.deepEqual(JSON.parse(run.stdout), { cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
      assert.equal(agent.requests.length, 0);
    });
    it('answers with invalid stdin', async () => {
      const run = await runBinary({ CNI_COMMAND: 'VERSION' }, '{not json');
      assert.equal(run.exitCode, 0);
      assert.equal((JSON.parse(run.stdout) as { cniVersion: string }).cniVersion, '1.1.0');
    });
    for (const version of SUPPORTED_VERSIONS) {
      it(`echoes cniVersion ${version}`, async () => {
        const run = await runBinary({ CNI_COMMAND: 'VERSION' }, JSON.stringify({ cniVersion: version }));
        assert.equal(run.exitCode, 0);
        assert.deepEqual(JSON.parse(run.stdout), { cniVersion: version, supportedVersions: [...SUPPORTED_VERSIONS] });
      });
    }
  });

  describe('forwarding to the agent', () => {
    it('forwards ADD with env and stdin intact and prints the result', async () => {
      const result = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/cni-1234' }], ips: [{ address: '10.244.1.5/24', gateway: '10.244.1.1', interface: 0 }] };
      agent.respond(() => okAnswer(result));
      const stdin = netconf(agent.socketPath, { runtimeConfig: { portMappings: [{ HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }] } }) + '\n';
      const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=' + CONTAINER_ID;
      const run = await runBinary(addEnv({ CNI_ARGS: args, NOT_CNI: 'secret' }), stdin);
      assert.equal(run.exitCode, 0, run.stdout);
      assert.deepEqual(JSON.parse(run.stdout), result);
      assert.equal(agent.requests[0]?.url, '/v1/cni');
      assert.deepEqual(forwarded(agent), {
        protocolVersion: 1,
        env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: CONTAINER_ID, CNI_IFNAME: 'eth0', CNI_NETNS: '/var/run/netns/cni-1234', CNI_ARGS: args, CNI_PATH: '/opt/cni/bin' },
        stdin,
      });
    });
    it('passes CNI_ARGS through in whatever order the runtime used', async () => {
      const orders = ['K8S_POD_NAME=web;IgnoreUnknown=1;K8S_POD_NAMESPACE=ns', 'K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web;IgnoreUnknown=1'];
      for (const args of orders) {
        const run = await runBinary(addEnv({ CNI_ARGS: args }), netconf(agent.socketPath));
        assert.equal(run.exitCode, 0, run.stdout);
      }
      assert.deepEqual(agent.requests.map((_, i) => forwarded(agent, i).env.CNI_ARGS), orders);
    });
    it('forwards DEL with an empty CNI_NETNS and prints nothing on success', async () => {
      const run = await runBinary({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: CONTAINER_ID, CNI_IFNAME: 'eth0', CNI_NETNS: '' }, netconf(agent.socketPath));
      assert.equal(run.exitCode, 0, run.stdout);
      assert.equal(run.stdout, '');
      assert.deepEqual(forwarded(agent).env, { CNI_COMMAND: 'DEL', CNI_CONTAINERID: CONTAINER_ID, CNI_IFNAME: 'eth0', CNI_NETNS: '' });
    });
    it('forwards STATUS and GC without container variables', async () => {
      for (const command of ['STATUS', 'GC']) {
        const run = await runBinary({ CNI_COMMAND: command }, netconf(agent.socketPath));
        assert.equal(run.exitCode, 0, run.stdout);
      }
      assert.deepEqual(agent.requests.map((_, i) => forwarded(agent, i).env), [{ CNI_COMMAND: 'STATUS' }, { CNI_COMMAND: 'GC' }]);
    });
    it('reads a configuration that arrives late on a non-blocking stdin (falls back to the stream)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'loom-cni-fifo-'));
      try {
        const fifo = join(dir, 'stdin');
        execFileSync('mkfifo', [fifo]);
        // O_NONBLOCK is shared with the child through the inherited open file description.
        const rfd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
        const wfd = openSync(fifo, constants.O_WRONLY);
        const child = spawn(LOOM_CNI_BINARY, [], { env: addEnv(), stdio: [rfd, 'pipe', 'pipe'] });
        closeSync(rfd);
        const out: Buffer[] = [];
        child.stdout!.on('data', (c: Buffer) => out.push(c));
        const exited = new Promise<number | null>((r) => child.on('close', r));
        const text = netconf(agent.socketPath);
        writeSync(wfd, text.slice(0, 20));
        await new Promise((r) => setTimeout(r, 300));
        writeSync(wfd, text.slice(20));
        closeSync(wfd);
        assert.equal(await exited, 0, Buffer.concat(out).toString());
        assert.equal(forwarded(agent).stdin, text);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
    it('passes an agent error through with exit 1', async () => {
      agent.respond(() => errorAnswer(100, 'IPAM exhausted: no free address in 10.244.1.0/24', 'delete unused pods'));
      const run = await runBinary(addEnv(), netconf(agent.socketPath));
      assert.equal(run.exitCode, 1);
      assert.deepEqual(JSON.parse(run.stdout), { cniVersion: '1.0.0', code: 100, msg: 'IPAM exhausted: no free address in 10.244.1.0/24', details: 'delete unused pods' });
    });
  });

  describe('agent problems', () => {
    it('reports an unreachable agent as 11 naming the socket', async () => {
      const sock = join(agent.dir, 'nobody.sock');
      const msg = expectError(await runBinary(addEnv(), netconf(sock)), 11);
      assert.equal(msg, `loom-agent is not reachable at ${sock} (ENOENT): check that the loom-agent pod on this node is running`);
    });
    it('reports 503 as 11', async () => {
      agent.respond(() => ({ status: 503, body: 'starting' }));
      assert.match(expectError(await runBinary(addEnv(), netconf(agent.socketPath)), 11), /not ready/);
    });
    it('reports STATUS with an unreachable agent as 50', async () => {
      expectError(await runBinary({ CNI_COMMAND: 'STATUS' }, netconf(join(agent.dir, 'nobody.sock'))), 50);
    });
    it('reports garbage from the agent as 5', async () => {
      agent.respond(() => ({ status: 200, body: '<html>oops' }));
      assert.match(expectError(await runBinary(addEnv(), netconf(agent.socketPath)), 5), /malformed answer/);
    });
    it('reports 413 from the agent as 7', async () => {
      agent.respond(() => ({ status: 413, body: '' }));
      expectError(await runBinary(addEnv(), netconf(agent.socketPath)), 7);
    });
  });

  describe('bad input never reaches the agent', () => {
    const local = async (env: Record<string, string>, stdin: string): Promise<RunResult> => {
      const run = await runBinary(env, stdin);
      assert.equal(agent.requests.length, 0, 'the agent must not be contacted');
      return run;
    };
    it('malformed JSON -> 6', async () => {
      expectError(await local(addEnv(), '{"cniVersion": '), 6);
    });
    it('unsupported cniVersion -> 1, listing the supported ones', async () => {
      const msg = await local(addEnv(), JSON.stringify({ cniVersion: '0.2.0', name: 'loom', type: 'loom', socketPath: agent.socketPath }));
      expectError(msg, 1);
      assert.match(msg.stdout, /1\.1\.0/);
    });
    it('missing or unknown CNI_COMMAND -> 4', async () => {
      expectError(await local({}, netconf(agent.socketPath)), 4);
      expectError(await local({ CNI_COMMAND: 'REMOVE' }, netconf(agent.socketPath)), 4);
    });
    it('missing CNI_CONTAINERID / CNI_NETNS -> 4 naming the variable', async () => {
      const noId = addEnv();
      delete noId['CNI_CONTAINERID'];
      assert.match(expectError(await local(noId, netconf(agent.socketPath)), 4), /CNI_CONTAINERID/);
      assert.match(expectError(await local(addEnv({ CNI_NETNS: '' }), netconf(agent.socketPath)), 4), /CNI_NETNS/);
      assert.match(expectError(await local(addEnv({ CNI_ARGS: 'oops' }), netconf(agent.socketPath)), 4), /CNI_ARGS/);
    });
    it('invalid config -> 7 naming the field', async () => {
      assert.match(expectError(await local(addEnv(), JSON.stringify({ cniVersion: '1.0.0', type: 'loom' })), 7), /"name"/);
      assert.match(expectError(await local(addEnv(), netconf('relative.sock')), 7), /socketPath/);
    });
    it('huge stdin -> 7 naming the limit', async () => {
      const huge = netconf(agent.socketPath, { padding: 'x'.repeat(2 * 1024 * 1024) });
      assert.match(expectError(await local(addEnv(), huge), 7), /1048576 bytes/);
    });
    it('errors carry the config cniVersion when it is supported', async () => {
      const run = await local(addEnv({ CNI_IFNAME: 'way-too-long-ifname' }), JSON.stringify({ cniVersion: '0.3.1', name: 'loom', type: 'loom' }));
      assert.equal(assertCniError(run.stdout, 4).cniVersion, '0.3.1');
    });
  });
});
