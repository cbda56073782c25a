// Test API server: the real kubectl (1.32) round trip through a generated kubeconfig.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiServer } from '../apiserver/server.js';
import { startApiServer } from '../apiserver/server.js';
import type { JsonObject, KubeObject } from '../apiserver/types.js';

const KUBECTL = '/usr/bin/kubectl';

function policyYaml(port: number, cidr = '10.0.0.0/8'): string {
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: team-a
spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes: [Ingress]
  ingress:
  - from:
    - ipBlock:
        cidr: ${cidr}
        except: [10.1.0.0/16]
    ports:
    - protocol: TCP
      port: ${port}
`;
}

describe('test API server: kubectl round trip', function () {
  let server: ApiServer;
  let dir: string;
  let policyFile: string;

  async function kubectl(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const r = await execa(KUBECTL, args, {
      env: { KUBECONFIG: server.kubeconfigPath, HOME: dir, PATH: process.env['PATH'] ?? '/usr/bin' },
      extendEnv: false,
      reject: false,
    });
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  async function kubectlOk(...args: string[]): Promise<string> {
    const r = await kubectl(...args);
    assert.equal(r.exitCode, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  }

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'loomt-kubectl-'));
    policyFile = join(dir, 'policy.yaml');
    server = await startApiServer({ kubeconfigPath: join(dir, 'kubeconfig') });
  });
  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a namespace, applies, re-applies (patch), gets and deletes a NetworkPolicy', async () => {
    assert.match(await kubectlOk('create', 'namespace', 'team-a'), /namespace\/team-a created/);
    assert.equal(server.store.get('namespaces', undefined, 'team-a').metadata.labels?.['kubernetes.io/metadata.name'], 'team-a');

    await writeFile(policyFile, policyYaml(80));
    assert.match(await kubectlOk('apply', '-f', policyFile), /networkpolicy.networking.k8s.io\/allow-web created/);
    await writeFile(policyFile, policyYaml(8080));
    assert.match(await kubectlOk('apply', '-f', policyFile), /networkpolicy.networking.k8s.io\/allow-web configured/);
    assert.match(await kubectlOk('apply', '-f', policyFile), /allow-web unchanged/);
    const stored = server.store.get('networkpolicies', 'team-a', 'allow-web');
    const spec = stored['spec'] as JsonObject;
    assert.deepEqual(((spec['ingress'] as JsonObject[])[0]?.['ports']), [{ protocol: 'TCP', port: 8080 }]);
    assert.equal(stored.metadata.generation, 2);
    assert.ok(stored.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']);

    const table = await kubectlOk('get', 'networkpolicies', '-A');
    assert.match(table, /NAMESPACE\s+NAME\s+POD-SELECTOR\s+AGE/);
    assert.match(table, /team-a\s+allow-web\s+app=web\s+\d+s/);

    const json = JSON.parse(await kubectlOk('get', 'netpol', '-n', 'team-a', 'allow-web', '-o', 'json')) as KubeObject;
    assert.equal(json.kind, 'NetworkPolicy');
    assert.equal(json.metadata.uid, stored.metadata.uid);

    assert.match(await kubectlOk('delete', '-f', policyFile), /"allow-web" deleted/);
    assert.throws(() => server.store.get('networkpolicies', 'team-a', 'allow-web'), /not found/);
  });

  it('shows kube-apiserver validation errors for an invalid policy', async () => {
    await writeFile(policyFile, policyYaml(80, '10.0.0.0/40'));
    const r = await kubectl('apply', '-f', policyFile);
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /NetworkPolicy "allow-web" is invalid: spec.ingress\[0\].from\[0\].ipBlock.cidr: Invalid value: "10.0.0.0\/40"/);
  });

  it('lists pods wide and nodes, labels and annotates a pod', async () => {
    server.store.create('nodes', { metadata: { name: 'node-a', labels: { 'node-role.kubernetes.io/worker': '' } }, status: { addresses: [{ type: 'InternalIP', address: '192.168.50.2' }] } });
    server.store.create('pods', { metadata: { name: 'web-1', labels: { app: 'web' } }, spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] } }, 'team-a');
    server.store.patch('pods', 'team-a', 'web-1', 'merge', { status: { phase: 'Running', podIP: '10.244.1.7' } }, { subresource: 'status' });

    assert.match(await kubectlOk('get', 'nodes'), /node-a\s+Unknown\s+worker\s+\d+s/);
    const wide = await kubectlOk('get', 'pods', '-n', 'team-a', '-o', 'wide');
    assert.match(wide, /NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
    assert.match(wide, /web-1\s+0\/1\s+Running\s+0\s+\d+s\s+10\.244\.1\.7\s+node-a/);

    assert.match(await kubectlOk('label', 'pod', '-n', 'team-a', 'web-1', 'tier=front'), /pod\/web-1 labeled/);
    assert.match(await kubectlOk('annotate', 'pod', '-n', 'team-a', 'web-1', 'note=hello'), /pod\/web-1 annotated/);
    assert.match(await kubectlOk('label', 'pod', '-n', 'team-a', 'web-1', 'app-'), /pod\/web-1 unlabeled/);
    const p = server.store.get('pods', 'team-a', 'web-1');
    assert.deepEqual(p.metadata.labels, { tier: 'front' });
    assert.equal(p.metadata.annotations?.['note'], 'hello');
    const selected = await kubectlOk('get', 'pods', '-A', '-l', 'tier in (front)', '-o', 'name');
    assert.equal(selected.trim(), 'pod/web-1');
  });
});
