// The Helm chart: lint, rendering with default and non-default values, manifest freshness, schema
// validation with kubernetes-models, RBAC exactness, and the agent config file it carries.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { ConfigMap, ServiceAccount } from 'kubernetes-models/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { FIELDS, loadConfig } from '../../src/config/index.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
const CHART = join(REPO, 'helm', 'loom');

interface K8sObject { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [key: string]: unknown }

let helm = '';

async function helmTemplate(extraArgs: string[] = []): Promise<K8sObject[]> {
  const { stdout } = await execa(helm, ['template', 'loom', CHART, '--namespace', 'kube-system', ...extraArgs]);
  return loadAll(stdout).filter((doc): doc is K8sObject => doc !== null && typeof doc === 'object');
}

function find<T>(objects: K8sObject[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `rendered chart lacks ${kind}/${name}`);
  return found as unknown as T;
}

function container(ds: IDaemonSet, name: string, init = false): IContainer {
  const list = init ? ds.spec!.template.spec!.initContainers : ds.spec!.template.spec!.containers;
  const found = list?.find((c) => c.name === name);
  assert.ok(found, `DaemonSet lacks ${init ? 'init ' : ''}container ${name}`);
  return found;
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'apps/v1/DaemonSet': DaemonSet,
};

function validateObject(obj: K8sObject): void {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  assert.ok(Model, `no schema model for ${obj.apiVersion} ${obj.kind}: add it to MODELS`);
  new Model(obj as never).validate();
}

// kubernetes-models ignores unknown fields; check the places where typos are likely.
const ALLOWED_KEYS: Record<string, readonly string[]> = {
  top: ['apiVersion', 'kind', 'metadata', 'spec', 'data', 'rules', 'roleRef', 'subjects', 'binaryData', 'immutable', 'secrets', 'imagePullSecrets', 'automountServiceAccountToken', 'aggregationRule'],
  metadata: ['name', 'namespace', 'labels', 'annotations'],
  podSpec: ['serviceAccountName', 'hostNetwork', 'dnsPolicy', 'priorityClassName', 'terminationGracePeriodSeconds', 'nodeSelector', 'tolerations', 'initContainers', 'containers', 'volumes', 'hostPID', 'affinity', 'securityContext'],
  container: ['name', 'image', 'imagePullPolicy', 'command', 'args', 'env', 'securityContext', 'ports', 'readinessProbe', 'livenessProbe', 'startupProbe', 'resources', 'volumeMounts', 'lifecycle', 'workingDir'],
  volumeMount: ['name', 'mountPath', 'readOnly', 'mountPropagation', 'subPath'],
};

function unknownKeys(where: string, value: object, allowed: readonly string[]): string[] {
  return Object.keys(value).filter((k) => !allowed.includes(k)).map((k) => `${where}: unknown field ${k}`);
}

function unknownFields(obj: K8sObject): string[] {
  const where = `${obj.kind}/${obj.metadata.name}`;
  const problems = [...unknownKeys(where, obj, ALLOWED_KEYS.top!), ...unknownKeys(`${where}.metadata`, obj.metadata, ALLOWED_KEYS.metadata!)];
  if (obj.kind === 'DaemonSet') {
    const pod = (obj as unknown as IDaemonSet).spec!.template.spec!;
    problems.push(...unknownKeys(`${where} pod spec`, pod, ALLOWED_KEYS.podSpec!));
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      problems.push(...unknownKeys(`${where} container ${c.name}`, c, ALLOWED_KEYS.container!));
      for (const m of c.volumeMounts ?? []) problems.push(...unknownKeys(`${where} container ${c.name} mount ${m.name}`, m, ALLOWED_KEYS.volumeMount!));
    }
  }
  return problems;
}

describe('install: helm chart', function () {
  before(async function () {
    this.timeout(300_000); // first run downloads helm (tens of seconds)
    const { stdout } = await execa('node', [join(REPO, 'scripts', 'fetch-helm.mjs')]);
    helm = stdout.trim();
    assert.match(helm, /\/helm$/);
  });

  it('passes helm lint --strict', async () => {
    const { stdout, exitCode } = await execa(helm, ['lint', '--strict', CHART], { reject: false });
    assert.equal(exitCode, 0, stdout);
    assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('renders the expected objects, all valid against the Kubernetes schemas', async () => {
    const objects = await helmTemplate();
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
      'ClusterRole/loom-agent', 'ClusterRoleBinding/loom-agent', 'ConfigMap/loom-config', 'DaemonSet/loom-agent', 'ServiceAccount/loom-agent',
    ]);
    for (const obj of objects) {
      validateObject(obj);
      if (obj.kind !== 'ClusterRole' && obj.kind !== 'ClusterRoleBinding') assert.equal(obj.metadata.namespace, 'kube-system', `${obj.kind} namespace`);
    }
    assert.deepEqual(objects.flatMap(unknownFields), []);
  });

  it('has a schema check that catches type and enum errors', async () => {
    const ds = find<IDaemonSet>(await helmTemplate(), 'DaemonSet', 'loom-agent');
    const broken = structuredClone(ds) as unknown as { spec: { template: { spec: { hostNetwork: unknown } } } };
    broken.spec.template.spec.hostNetwork = 'yes';
    assert.throws(() => validateObject(broken as unknown as K8sObject), /hostNetwork/);
    const typo = structuredClone(ds) as unknown as K8sObject & { spec: { template: { spec: { containers: Array<Record<string, unknown>> } } } };
    typo.spec.template.spec.containers[0]!.volumeMount = [];
    assert.deepEqual(unknownFields(typo), ['DaemonSet/loom-agent container ovs: unknown field volumeMount']);
  });

  it('grants exactly get/list/watch on nodes, namespaces, pods and networkpolicies', async () => {
    const objects = await helmTemplate();
    const role = find<IClusterRole>(objects, 'ClusterRole', 'loom-agent');
    const grants = (role.rules ?? []).flatMap((rule) =>
      (rule.apiGroups ?? []).flatMap((group) => (rule.resources ?? []).map((resource) => ({ group, resource, verbs: [...rule.verbs].sort() }))));
    assert.deepEqual(grants.map((g) => `${g.group}/${g.resource}`).sort(), ['/namespaces', '/nodes', '/pods', 'networking.k8s.io/networkpolicies']);
    for (const g of grants) assert.deepEqual(g.verbs, ['get', 'list', 'watch'], `${g.group}/${g.resource}`);
    assert.equal(role.aggregationRule, undefined);
    for (const rule of role.rules ?? []) assert.equal(rule.resourceNames, undefined);
    const binding = find<ClusterRoleBinding>(objects, 'ClusterRoleBinding', 'loom-agent');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'loom-agent' });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'loom-agent', namespace: 'kube-system' }]);
  });

  it('renders the DaemonSet as a node-critical host-network agent with OVS and install-cni', async () => {
    const ds = find<IDaemonSet>(await helmTemplate(), 'DaemonSet', 'loom-agent');
    assert.equal(ds.metadata!.namespace, 'kube-system');
    assert.deepEqual(ds.spec!.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    const pod = ds.spec!.template.spec!;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.equal(pod.priorityClassName, 'system-node-critical');
    assert.equal(pod.serviceAccountName, 'loom-agent');
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.deepEqual(pod.containers.map((c) => c.name), ['ovs', 'loom-agent']);

    const install = container(ds, 'install-cni', true);
    assert.deepEqual(install.command, ['/opt/loom/bin/install-cni']);
    assert.ok(install.volumeMounts!.some((m) => m.name === 'host-cni-bin' && m.mountPath === '/host/opt/cni/bin'));

    const ovs = container(ds, 'ovs');
    assert.deepEqual(ovs.command, ['/opt/loom/bin/loom-ovs', 'start']);
    assert.deepEqual(ovs.livenessProbe!.exec!.command, ['/opt/loom/bin/loom-ovs', 'check']);

    const agent = container(ds, 'loom-agent');
    assert.deepEqual(agent.command, ['/opt/loom/bin/loom-agent', '--config', '/etc/loom/agent.yaml']);
    assert.deepEqual(agent.env, [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }]);
    assert.equal(agent.securityContext!.privileged, true, 'agent writes /proc/sys and enters pod netns');
    assert.deepEqual(agent.readinessProbe!.httpGet, { path: '/readyz', port: 9469 });
    assert.deepEqual(agent.livenessProbe!.httpGet, { path: '/healthz', port: 9469 });
    const netns = agent.volumeMounts!.find((m) => m.mountPath === '/var/run/netns');
    assert.equal(netns?.mountPropagation, 'HostToContainer');

    const hostPaths = new Map((pod.volumes ?? []).filter((v) => v.hostPath).map((v) => [v.name, v.hostPath!.path]));
    assert.deepEqual([...hostPaths.values()].sort(), [
      '/etc/cni/net.d', '/lib/modules', '/opt/cni/bin', '/run/xtables.lock', '/var/lib/loom', '/var/lib/openvswitch',
      '/var/log/loom', '/var/run/loom', '/var/run/netns', '/var/run/openvswitch',
    ]);
    for (const c of [...pod.initContainers!, ...pod.containers]) {
      for (const m of c.volumeMounts ?? []) assert.ok(pod.volumes!.some((v) => v.name === m.name), `${c.name} mounts undefined volume ${m.name}`);
    }
  });

  it('ships an agent config file that loadConfig accepts, with the chart defaults', async () => {
    const cm = find<IConfigMap>(await helmTemplate(), 'ConfigMap', 'loom-config');
    const text = cm.data!['agent.yaml']!;
    const keys = Object.keys(loadAll(text)[0] as object);
    const known = FIELDS.map((f) => f.name as string);
    for (const key of keys) assert.ok(known.includes(key), `ConfigMap field ${key} is not an agent config field`);
    const config = loadConfig({ argv: ['--config', '/etc/loom/agent.yaml'], env: { NODE_NAME: 'node-1' }, fileReader: () => text });
    assert.equal(config.clusterCIDR, '10.244.0.0/16');
    assert.equal(config.serviceCIDR, '10.96.0.0/12');
    assert.equal(config.podCIDR, undefined);
    assert.equal(config.metricsPort, 9469);
    assert.equal(config.datapathType, 'auto');
  });

  it('puts non-default values where they belong', async () => {
    const objects = await helmTemplate([
      '--set', 'image.repository=registry.example/loom', '--set', 'image.tag=v9.9.9', '--set', 'image.pullPolicy=Always',
      '--set', 'config.podCIDR=10.244.7.0/24', '--set', 'config.clusterCIDR=10.244.0.0/16', '--set', 'config.serviceCIDR=10.100.0.0/16',
      '--set', 'config.tunnelVNI=42', '--set', 'config.tunnelPort=8472', '--set', 'config.mtu=1400',
      '--set', 'config.datapathType=netdev', '--set', 'config.logLevel=debug', '--set', 'config.metricsPort=9555',
      '--set', 'extraConfig.transportInterface=eth1', '--set', 'resources.agent.limits.memory=1Gi',
      '--set', 'nodeSelector.role=net', '--set-json', 'tolerations=[{"key":"dedicated","operator":"Equal","value":"net","effect":"NoSchedule"}]',
    ]);
    for (const obj of objects) validateObject(obj);
    const ds = find<IDaemonSet>(objects, 'DaemonSet', 'loom-agent');
    const pod = ds.spec!.template.spec!;
    for (const c of [...pod.initContainers!, ...pod.containers]) {
      assert.equal(c.image, 'registry.example/loom:v9.9.9');
      assert.equal(c.imagePullPolicy, 'Always');
    }
    const agent = container(ds, 'loom-agent');
    assert.deepEqual(agent.ports, [{ name: 'metrics', containerPort: 9555, protocol: 'TCP' }]);
    assert.equal(agent.readinessProbe!.httpGet!.port, 9555);
    assert.equal(agent.livenessProbe!.httpGet!.port, 9555);
    assert.equal(agent.resources!.limits!.memory, '1Gi');
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux', role: 'net' });
    assert.deepEqual(pod.tolerations, [{ key: 'dedicated', operator: 'Equal', value: 'net', effect: 'NoSchedule' }]);
    assert.deepEqual(container(ds, 'install-cni', true).env!.find((e) => e.name === 'LOOM_DATAPATH_TYPE'), { name: 'LOOM_DATAPATH_TYPE', value: 'netdev' });

    const text = find<IConfigMap>(objects, 'ConfigMap', 'loom-config').data!['agent.yaml']!;
    const config = loadConfig({ argv: ['--config=/etc/loom/agent.yaml'], env: { NODE_NAME: 'node-1' }, fileReader: () => text });
    assert.equal(config.podCIDR, '10.244.7.0/24');
    assert.equal(config.serviceCIDR, '10.100.0.0/16');
    assert.equal(config.tunnelVNI, 42);
    assert.equal(config.tunnelPort, 8472);
    assert.equal(config.mtu, 1400);
    assert.equal(config.datapathType, 'netdev');
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.metricsPort, 9555);
    assert.equal(config.transportInterface, 'eth1');

    const defaults = find<IDaemonSet>(await helmTemplate(), 'DaemonSet', 'loom-agent');
    assert.notEqual(ds.spec!.template.metadata!.annotations!['checksum/config'], defaults.spec!.template.metadata!.annotations!['checksum/config'],
      'a config change must change the pod template so the DaemonSet rolls');
  });

  it('drops the HTTP probes when metricsPort is 0', async () => {
    const ds = find<IDaemonSet>(await helmTemplate(['--set', 'config.metricsPort=0']), 'DaemonSet', 'loom-agent');
    const agent = container(ds, 'loom-agent');
    assert.equal(agent.readinessProbe, undefined);
    assert.equal(agent.livenessProbe, undefined);
    assert.equal(agent.ports, undefined);
  });

  it('keeps manifests/loom.yaml in sync with the chart', async () => {
    const { exitCode, stderr } = await execa('node', [join(REPO, 'scripts', 'render-manifest.mjs'), '--check'], { reject: false });
    assert.equal(exitCode, 0, `${stderr}\nrun: node scripts/render-manifest.mjs`);
    const manifest = await readFile(join(REPO, 'manifests', 'loom.yaml'), 'utf8');
    assert.match(manifest, /^# GENERATED FILE - DO NOT EDIT\./);
    const objects = loadAll(manifest).filter((d): d is K8sObject => d !== null && typeof d === 'object');
    assert.equal(objects.length, 5);
    for (const obj of objects) validateObject(obj);
  });
});
