// loom-cni's client logic against the real loom-agent socket server (node-agent/src/cniserver/server.ts),
// with a stand-in handler: catches protocol skew between the two sides.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CniServer } from '../../node-agent/src/cniserver/server.js';
import { runCni } from '../src/cli.js';
import type { ShimRequest, ShimResponse } from '../src/protocol.js';
import { assertCniError } from './support/assert-cni.js';
import { makeTempDir, removeTempDir } from './support/stub-agent.js';

describe('cni cli: against the real loom-agent CNI server', () => {
  let dir: string;
  let server: CniServer;
  let notReady: string | null;
  const seen: unknown[] = [];
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_NETNS: '/var/run/netns/p1' };
  const conf = (): string => JSON.stringify({ cniVersion: '1.0.0', name: 'loom', type: 'loom', socketPath: join(dir, 'cni.sock') });

  beforeEach(async () => {
    dir = await makeTempDir();
    notReady = null;
    seen.length = 0;
    server = new CniServer({
      socketPath: join(dir, 'cni.sock'),
      notReadyReason: () => notReady,
      handler: async (body: unknown): Promise<ShimResponse> => {
        seen.push(body);
        return { protocolVersion: 1, ok: true, result: { cniVersion: '1.0.0', ips: [{ address: '10.244.0.9/24' }] } };
      },
    });
    await server.start();
  });
  afterEach(async () => {
    await server.stop();
    await removeTempDir(dir);
  });

  it('delivers the request and prints the handler result', async () => {
    const stdin = conf();
    const out = await runCni(env, Readable.from([Buffer.from(stdin)]));
    assert.equal(out.exitCode, 0, out.stdout);
    assert.deepEqual(JSON.parse(out.stdout), { cniVersion: '1.0.0', ips: [{ address: '10.244.0.9/24' }] });
    const req = seen[0] as ShimRequest;
    assert.equal(req.stdin, stdin);
    assert.equal(req.env.CNI_CONTAINERID, 'c1');
  });

  it('turns the server\'s not-ready answer into 11 with its reason', async () => {
    notReady = 'OVS is not connected';
    const out = await runCni(env, Readable.from([Buffer.from(conf())]));
    assert.match(assertCniError(out.stdout, 11).details ?? '', /OVS is not connected/);
    assert.equal(seen.length, 0);
  });
});
