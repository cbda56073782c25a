// The harness leaves nothing behind: after teardown, and after a run that was killed (cleaned at the
// next start). Also the API server's side door (fault injection) as seen by kubectl.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { requireRoot } from '../../node-agent/test/support/netns.js';
import { cleanupClusterLeftovers, leftoversOf } from '../lib/cleanup.js';
import { startCluster, type Cluster } from '../lib/cluster.js';
import { E2E_PREFIX_ROOT, newClusterPrefix } from '../lib/names.js';

const nothing = { netns: [], dirs: [], processes: [] };

describe('e2e cluster lifecycle: teardown and leftovers', function () {
  this.timeout(180000);
  let cluster: Cluster | undefined;
  let child: ReturnType<typeof execa> | undefined;

  before(function () {
    requireRoot(this);
  });
  afterEach(async () => {
    await cluster?.teardown();
    cluster = undefined;
    child?.kill('SIGKILL');
    await child?.catch(() => undefined);
    child = undefined;
  });

  it('teardown removes every namespace, process and directory of the cluster', async () => {
    cluster = await startCluster({ nodes: 1 });
    const { prefix } = cluster;
    await cluster.createPod({ namespace: 'x', name: 'a', node: 1, containerPorts: [{ containerPort: 80 }, { containerPort: 80, protocol: 'UDP' }] });
    await cluster.startExternalServer('internet', { tcp: [8080] });
    const up = await leftoversOf(prefix);
    assert.ok(up.netns.length >= 4, `ul, api, node and pod namespaces exist: ${up.netns.join(', ')}`);
    assert.ok(up.processes.some((p) => p.includes('ovs-vswitchd')), 'OVS runs while the cluster is up');
    assert.ok(up.processes.some((p) => p.includes('loom-agent')), 'the agent runs while the cluster is up');
    await cluster.teardown();
    cluster = undefined;
    assert.deepEqual(await leftoversOf(prefix), nothing);
  });

  it('cleans up a killed run at the next start', async () => {
    const prefix = newClusterPrefix();
    child = execa(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'support-killed-run.ts'), prefix], { reject: false, stdout: 'pipe', stderr: 'pipe' });
    const line = await new Promise<string>((resolve, reject) => {
      child!.stdout?.on('data', (d: Buffer) => {
        const text = d.toString('utf8');
        if (text.includes('"up":true')) resolve(text);
      });
      void child!.then((r) => reject(new Error(`the child run ended before it was up: ${String(r.stderr).slice(-2000)}`)));
    });
    const { dir } = JSON.parse(line.trim()) as { dir: string };
    child.kill('SIGKILL');
    await child;
    child = undefined;
    const left = await leftoversOf(prefix);
    assert.ok(left.netns.length >= 4 && left.processes.length > 0 && existsSync(dir), 'a killed run leaves namespaces, processes and its directory');
    await cleanupClusterLeftovers(E2E_PREFIX_ROOT);
    assert.deepEqual(await leftoversOf(prefix), nothing);
  });

  it('injects API server outages through the side door (kubectl sees them, the harness does not)', async () => {
    cluster = await startCluster({ nodes: 1 });
    assert.equal((await cluster.kubectl(['get', 'nodes'])).exitCode, 0);
    await cluster.api.fault('pause-refuse');
    try {
      const down = await cluster.kubectl(['get', 'nodes', '--request-timeout=3s'], { reject: false });
      assert.notEqual(down.exitCode, 0, 'kubectl fails while the API server refuses connections');
      assert.equal((await cluster.api.list('nodes')).items.length, 1, 'the harness side door keeps working');
    } finally {
      await cluster.api.fault('resume');
    }
    assert.equal((await cluster.kubectl(['get', 'nodes'])).exitCode, 0);
  });
});
