// Pure parts of the e2e harness: quantities, the CNI requests containerd sends, truth tables, names.
import assert from 'node:assert/strict';
import { parseTargets } from '../lib/agnhost.js';
import { capabilityArgs, cniArgs, invocation, pluginConfig, type Conflist, type SandboxInfo } from '../lib/cni-request.js';
import { differences, expectedTable, formatMatrix } from '../lib/matrix.js';
import { newClusterPrefix, podNetns, validatePrefix } from '../lib/names.js';
import { bandwidthFromAnnotations, parseQuantity } from '../lib/quantity.js';
import { loomConflist } from '../../node-agent/src/agent/cni-conf.js';

const sandbox: SandboxInfo = {
  sandboxId: 'a'.repeat(64),
  netnsPath: '/var/run/netns/loomt-e2e-x-p-1',
  podNamespace: 'x',
  podName: 'a',
  podUid: 'uid-1',
  annotations: { 'kubernetes.io/ingress-bandwidth': '10M', team: 'blue' },
  portMappings: [{ HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }],
};

describe('e2e harness: pure parts', () => {
  it('parses Kubernetes quantities', () => {
    assert.equal(parseQuantity('10M'), 10e6);
    assert.equal(parseQuantity('1Gi'), 2 ** 30);
    assert.equal(parseQuantity('500k'), 500e3);
    assert.equal(parseQuantity('2e6'), 2e6);
    assert.equal(parseQuantity('1.5G'), 1.5e9);
    assert.throws(() => parseQuantity('10 Mbit'), /not a Kubernetes quantity/);
  });

  it('turns bandwidth annotations into containerd runtimeConfig (bits/s, MaxUint32 burst)', () => {
    assert.equal(bandwidthFromAnnotations({}), undefined);
    assert.deepEqual(bandwidthFromAnnotations({ 'kubernetes.io/ingress-bandwidth': '10M', 'kubernetes.io/egress-bandwidth': '1G' }), {
      IngressRate: 10_000_000, IngressBurst: 4294967295, EgressRate: 1_000_000_000, EgressBurst: 4294967295,
    });
    assert.throws(() => bandwidthFromAnnotations({ 'kubernetes.io/egress-bandwidth': '10' }), /outside 1k\.\.1P/);
  });

  it('sends CNI_ARGS with every K8S_POD_* key, IgnoreUnknown first, in varying order', () => {
    const orders = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const args = cniArgs(sandbox);
      const pairs = args.split(';');
      assert.equal(pairs[0], 'IgnoreUnknown=1');
      assert.deepEqual(Object.fromEntries(pairs.map((p) => p.split('='))), {
        IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'x', K8S_POD_NAME: 'a', K8S_POD_INFRA_CONTAINER_ID: 'a'.repeat(64), K8S_POD_UID: 'uid-1',
      });
      orders.add(pairs.slice(1).map((p) => p.split('=')[0]).join(','));
    }
    assert.ok(orders.size > 1, 'the key order changes between calls');
  });

  it('passes only the runtimeConfig keys a plugin declares, like libcni', () => {
    const list: Conflist = { cniVersion: '1.1.0', name: 'loom', plugins: [{ type: 'loom-cni', socketPath: '/s', capabilities: { bandwidth: true } }, { type: 'portmap', capabilities: { portMappings: true } }] };
    const loom = pluginConfig(list, list.plugins[0]!, sandbox);
    assert.deepEqual(loom, { type: 'loom-cni', socketPath: '/s', capabilities: { bandwidth: true }, name: 'loom', cniVersion: '1.1.0', runtimeConfig: { bandwidth: { IngressRate: 10_000_000, IngressBurst: 4294967295 } } });
    const portmap = pluginConfig(list, list.plugins[1]!, sandbox, { cniVersion: '1.1.0', ips: [] });
    assert.deepEqual(portmap.runtimeConfig, { portMappings: sandbox.portMappings });
    assert.deepEqual(portmap.prevResult, { cniVersion: '1.1.0', ips: [] });
    assert.deepEqual(capabilityArgs({ ...sandbox, annotations: {} }).bandwidth, undefined);
  });

  it('builds the loom-cni invocation from the agent\'s own conflist; RemovePodSandbox DEL has no netns and no prevResult', () => {
    const list = loomConflist('/run/x/cni.sock') as Conflist;
    const plugin = list.plugins.find((p) => p.type === 'loom-cni')!;
    const add = invocation(list, plugin, sandbox, { command: 'ADD', ifname: 'eth0', cniPath: '/opt/cni/bin', withNetns: true });
    assert.equal(add.env['CNI_NETNS'], sandbox.netnsPath);
    assert.equal(add.env['CNI_CONTAINERID'], sandbox.sandboxId);
    const conf = JSON.parse(add.stdin) as Record<string, unknown>;
    assert.equal(conf['socketPath'], '/run/x/cni.sock');
    assert.equal(conf['cniVersion'], list.cniVersion);
    const del = invocation(list, plugin, sandbox, { command: 'DEL', ifname: 'eth0', cniPath: '/opt/cni/bin', withNetns: false });
    assert.equal(del.env['CNI_NETNS'], '');
    assert.equal((JSON.parse(del.stdin) as Record<string, unknown>)['prevResult'], undefined);
  });

  it('renders truth tables and their differences', () => {
    const pods = ['x/a', 'x/b', 'y/db'];
    const before = expectedTable({ port: 80, protocol: 'TCP' }, pods, () => true);
    const after = expectedTable({ port: 80, protocol: 'TCP' }, pods, (from, to) => to !== 'y/db' || from === 'x/b');
    assert.deepEqual(differences(before, after), [{ from: 'x/a', to: 'y/db', before: true, after: false }, { from: 'y/db', to: 'y/db', before: true, after: false }]);
    const text = formatMatrix(after, before);
    assert.match(text, /^TCP\/80/);
    assert.match(text, /x\/a\s+\.\s+\.\s+x\s+\(1\)/);
    assert.match(formatMatrix(after), /x\/a\s+\.\s+\.\s+X\s+\(1\)/);
  });

  it('validates probe targets and names', () => {
    assert.deepEqual(parseTargets('[{"ip":"10.244.1.2","port":80,"protocol":"UDP"}]'), [{ ip: '10.244.1.2', port: 80, protocol: 'UDP' }]);
    assert.throws(() => parseTargets('[{"ip":"10.244.1.2; rm -rf /","port":80,"protocol":"TCP"}]'), /IPv4/);
    assert.throws(() => parseTargets('[{"ip":"10.244.1.2","port":0,"protocol":"TCP"}]'), /port/);
    assert.throws(() => parseTargets('[{"ip":"10.244.1.2","port":80,"protocol":"SCTP"}]'), /protocol/);
    assert.match(newClusterPrefix(), /^loomt-e2e-[0-9a-f]{4}-$/);
    assert.throws(() => validatePrefix('e2e-'), /cluster prefix/);
    assert.match(podNetns('loomt-e2e-ab12-', 'x', 'a'), /^loomt-e2e-ab12-p-[0-9a-f]{8}$/);
    assert.notEqual(podNetns('loomt-e2e-ab12-', 'x', 'a'), podNetns('loomt-e2e-ab12-', 'x', 'b'));
  });
});
