// Operating the agent: the CNI network config appears only once the agent is ready, metrics and
// health endpoints, a start-up failure on bad configuration, and `loom-agent uninstall`.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { cleanupLeftovers, deleteNetns, nsExec, requireRoot } from '../support/netns.js';
import { createPodNetns, LOOM_AGENT, NODE_BIN, startAgentNode, type AgentNode } from '../support/agent-node.js';

const METRICS_PORT = 19469;

async function httpInNode(node: AgentNode, path: string): Promise<{ status: number; body: string }> {
  const r = await nsExec(node.netns, 'curl', ['-s', '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:${METRICS_PORT}${path}`], { reject: false });
  const lines = r.stdout.split('\n');
  return { status: Number(lines.pop()), body: lines.join('\n') };
}

function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' ') || l.startsWith(series + '{') && l.includes('} ') && l.split(' ')[0] === series);
  return line ? Number(line.split(' ').pop()) : undefined;
}

describe('loom-agent operability (CNI config, metrics, health, bad config, uninstall)', function () {
  this.timeout(120000);
  let node: AgentNode;
  let confDir: string;

  before(async function () {
    requireRoot(this);
    await cleanupLeftovers();
    node = await startAgentNode({
      name: 'loomt-op-n1',
      podCidr: '10.244.9.0/24',
      extraArgs: ['--install-cni-config=true', '--metrics-port', String(METRICS_PORT), '--metrics-bind-address', '127.0.0.1'],
    });
    confDir = join(node.dir, 'net.d');
    // The conf dir is only known once the node dir exists: restart the agent with it.
    await node.stopAgent('SIGTERM');
    node.agentArgs.push('--cni-conf-dir', confDir);
    assert.ok(!existsSync(join(confDir, '10-loom.conflist')), 'no CNI config before the agent is ready');
    await node.startAgent();
  });
  after(async () => {
    await deleteNetns('loomt-op-p1');
    await node?.destroy();
  });

  it('writes the CNI network config (loom + portmap, capabilities) once ready', async () => {
    const conf = JSON.parse(await readFile(join(confDir, '10-loom.conflist'), 'utf8'));
    assert.equal(conf.name, 'loom');
    assert.deepEqual(conf.plugins.map((p: { type: string }) => p.type), ['loom-cni', 'portmap']);
    assert.equal(conf.plugins[0].socketPath, node.socket);
    assert.deepEqual(conf.plugins[0].capabilities, { bandwidth: true });
    assert.deepEqual(conf.plugins[1].capabilities, { portMappings: true });
  });

  it('serves /healthz, /readyz and the documented metrics after a pod ADD', async () => {
    assert.equal((await httpInNode(node, '/healthz')).status, 200);
    assert.equal((await httpInNode(node, '/readyz')).status, 200);
    const netns = await createPodNetns('loomt-op-p1');
    const r = await node.cni({ command: 'ADD', containerId: 'cid-op1', netns, ifname: 'eth0', args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=op1' });
    assert.equal(r.exitCode, 0, r.stdout);
    await node.cni({ command: 'ADD', containerId: 'cid-op-bad', netns: '/var/run/netns/loomt-op-missing', ifname: 'eth0' });
    await new Promise((res) => setTimeout(res, 1500)); // flow gauges are refreshed within 1 s
    const m = (await httpInNode(node, '/metrics')).body;
    assert.equal(metricValue(m, 'loom_cni_requests_total{verb="ADD",result="success"}'), 1);
    assert.equal(metricValue(m, 'loom_cni_requests_total{verb="ADD",result="error"}'), 1);
    assert.ok((metricValue(m, 'loom_cni_request_duration_seconds_count{verb="ADD"}') ?? 0) >= 2);
    assert.equal(metricValue(m, 'loom_pods'), 1);
    assert.ok((metricValue(m, 'loom_ovs_flows{table="SpoofGuard"}') ?? 0) >= 3, 'per-table flow gauge');
    assert.equal(metricValue(m, 'loom_ovs_connected'), 1);
    assert.match(m, /^loom_policy_rules /m);
    assert.match(m, /^loom_tunnel_peers /m);
    assert.match(m, /^# TYPE loom_errors_total counter/m);
    assert.match(m, /^# TYPE loom_policy_realization_seconds histogram/m);
  });

  it('refuses to start on a bad configuration value, naming the field', async () => {
    const r = await execa(NODE_BIN, [LOOM_AGENT, '--node-name', 'x', '--kubeconfig', 'none', '--pod-cidr', '10.244.1.7/24', '--tunnel-port', '70000'], { reject: false });
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /podCIDR/);
    assert.match(r.stderr, /tunnelPort/);
  });

  it('uninstall removes the CNI config, iptables chains and bridges', async () => {
    await node.stopAgent('SIGTERM');
    const args = node.agentArgs.slice(1);
    const r = await execa('ip', ['netns', 'exec', node.netns, NODE_BIN, LOOM_AGENT, 'uninstall', ...args], { reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(!existsSync(join(confDir, '10-loom.conflist')), 'CNI config removed');
    const nat = await nsExec(node.netns, 'iptables', ['-t', 'nat', '-S']);
    assert.doesNotMatch(nat.stdout, /LOOM-/);
    const bridges = await nsExec(node.netns, 'ovs-vsctl', [`--db=${node.ovs.dbSock}`, 'list-br']);
    assert.equal(bridges.stdout.trim(), '');
    // a second uninstall finds nothing to do and still succeeds
    const again = await execa('ip', ['netns', 'exec', node.netns, NODE_BIN, LOOM_AGENT, 'uninstall', ...args], { reject: false });
    assert.equal(again.exitCode, 0, again.stderr);
  });
});
