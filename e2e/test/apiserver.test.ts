// Test API server: CRUD, status subresource, resourceVersion, patches, selectors, Status errors, discovery, tables.
import assert from 'node:assert/strict';
import type { ApiServer } from '../apiserver/server.js';
import { startApiServer } from '../apiserver/server.js';
import { apiRequest } from '../apiserver/testclient.js';
import type { JsonObject, JsonValue, KubeObject } from '../apiserver/types.js';

const pod = (name: string, labels: Record<string, string> = {}, nodeName?: string): JsonObject => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, labels },
  spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: 80 }] }] },
});

const asObject = (v: JsonValue): KubeObject => v as unknown as KubeObject;
const field = (v: JsonValue, ...path: (string | number)[]): JsonValue | undefined => {
  let cur: JsonValue | undefined = v;
  for (const p of path) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string | number, JsonValue>)[p] : undefined;
  return cur;
};

describe('test API server: objects', function () {
  let server: ApiServer;
  const req = (method: string, path: string, body?: unknown, contentType?: string) =>
    apiRequest(server.url, method, path, { ...(body !== undefined ? { body } : {}), ...(contentType ? { contentType } : {}), token: server.token });

  beforeEach(async () => {
    server = await startApiServer({ host: '127.0.0.1', port: 0 });
  });
  afterEach(async () => {
    await server.stop();
  });

  it('creates, gets, replaces and deletes a pod with server-set metadata', async () => {
    const created = await req('POST', '/api/v1/namespaces/default/pods', pod('p1'));
    assert.equal(created.status, 201);
    const meta = asObject(created.body).metadata;
    assert.match(meta.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.match(meta.creationTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(meta.generation, 1);
    assert.equal(meta.namespace, 'default');
    assert.equal(field(created.body, 'status', 'phase'), 'Pending');

    const got = await req('GET', '/api/v1/namespaces/default/pods/p1');
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, created.body);

    const changed = asObject(got.body);
    (changed['spec'] as JsonObject)['nodeName'] = 'node-a';
    const replaced = await req('PUT', '/api/v1/namespaces/default/pods/p1', changed);
    assert.equal(replaced.status, 200);
    assert.equal(field(replaced.body, 'spec', 'nodeName'), 'node-a');
    assert.equal(field(replaced.body, 'metadata', 'generation'), 2);
    assert.equal(field(replaced.body, 'metadata', 'uid'), meta.uid);

    const deleted = await req('DELETE', '/api/v1/namespaces/default/pods/p1');
    assert.equal(deleted.status, 200);
    assert.equal(field(deleted.body, 'kind'), 'Pod');
    assert.equal(field(deleted.body, 'metadata', 'name'), 'p1');
    assert.equal((await req('GET', '/api/v1/namespaces/default/pods/p1')).status, 404);
  });

  it('status subresource changes only status, main resource keeps status', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('p1'));
    const patched = await req('PATCH', '/api/v1/namespaces/default/pods/p1/status',
      { status: { phase: 'Running', podIP: '10.244.1.5' }, spec: { nodeName: 'ignored' } }, 'application/merge-patch+json');
    assert.equal(patched.status, 200);
    assert.equal(field(patched.body, 'status', 'podIP'), '10.244.1.5');
    assert.equal(field(patched.body, 'spec', 'nodeName'), undefined);

    const current = asObject((await req('GET', '/api/v1/namespaces/default/pods/p1')).body);
    current['status'] = { phase: 'Failed' };
    const put = await req('PUT', '/api/v1/namespaces/default/pods/p1', current);
    assert.equal(field(put.body, 'status', 'phase'), 'Running', 'PUT on the main resource must not change status');

    const statusPut = await req('PUT', '/api/v1/namespaces/default/pods/p1/status', { ...current, status: { phase: 'Succeeded' }, metadata: { ...current.metadata, resourceVersion: field(put.body, 'metadata', 'resourceVersion') } });
    assert.equal(statusPut.status, 200);
    assert.equal(field(statusPut.body, 'status', 'phase'), 'Succeeded');
  });

  it('resourceVersion is one global increasing counter, reported by lists', async () => {
    const versions: number[] = [];
    for (const name of ['a', 'b']) {
      const r = await req('POST', '/api/v1/namespaces/default/pods', pod(name));
      versions.push(Number(field(r.body, 'metadata', 'resourceVersion')));
    }
    const node = await req('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } });
    versions.push(Number(field(node.body, 'metadata', 'resourceVersion')));
    const upd = await req('PATCH', '/api/v1/namespaces/default/pods/a', { metadata: { labels: { x: 'y' } } }, 'application/merge-patch+json');
    versions.push(Number(field(upd.body, 'metadata', 'resourceVersion')));
    const del = await req('DELETE', '/api/v1/namespaces/default/pods/b');
    versions.push(Number(field(del.body, 'metadata', 'resourceVersion')));
    for (let i = 1; i < versions.length; i++) assert.ok((versions[i] ?? 0) > (versions[i - 1] ?? 0), `versions must increase: ${versions.join(',')}`);
    const list = await req('GET', '/api/v1/pods');
    assert.equal(field(list.body, 'kind'), 'PodList');
    assert.equal(Number(field(list.body, 'metadata', 'resourceVersion')), versions[versions.length - 1]);
    // A write that changes nothing does not bump the version.
    const same = await req('PATCH', '/api/v1/namespaces/default/pods/a', { metadata: { labels: { x: 'y' } } }, 'application/merge-patch+json');
    assert.equal(field(same.body, 'metadata', 'resourceVersion'), field(upd.body, 'metadata', 'resourceVersion'));
  });

  it('generateName makes a unique name', async () => {
    const body = pod('');
    (body['metadata'] as JsonObject) = { generateName: 'web-' };
    const a = await req('POST', '/api/v1/namespaces/default/pods', body);
    const b = await req('POST', '/api/v1/namespaces/default/pods', body);
    assert.match(String(field(a.body, 'metadata', 'name')), /^web-[a-z0-9]{5}$/);
    assert.notEqual(field(a.body, 'metadata', 'name'), field(b.body, 'metadata', 'name'));
  });

  it('answers errors with Status bodies: 404, 409 AlreadyExists, 409 Conflict, 400, 405, 415', async () => {
    const missing = await req('GET', '/api/v1/namespaces/default/pods/nope');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'pods "nope" not found', reason: 'NotFound', details: { name: 'nope', kind: 'pods' }, code: 404 });
    const unknownPath = await req('GET', '/api/v1/services');
    assert.equal(unknownPath.status, 404);
    assert.equal(field(unknownPath.body, 'kind'), 'Status');

    await req('POST', '/api/v1/namespaces/default/pods', pod('p1'));
    const dup = await req('POST', '/api/v1/namespaces/default/pods', pod('p1'));
    assert.equal(dup.status, 409);
    assert.equal(field(dup.body, 'reason'), 'AlreadyExists');
    assert.equal(field(dup.body, 'message'), 'pods "p1" already exists');

    const stale = asObject((await req('GET', '/api/v1/namespaces/default/pods/p1')).body);
    await req('PATCH', '/api/v1/namespaces/default/pods/p1', { metadata: { labels: { v: '2' } } }, 'application/merge-patch+json');
    const conflict = await req('PUT', '/api/v1/namespaces/default/pods/p1', stale);
    assert.equal(conflict.status, 409);
    assert.equal(field(conflict.body, 'reason'), 'Conflict');
    assert.match(String(field(conflict.body, 'message')), /the object has been modified/);

    const noNs = await req('POST', '/api/v1/namespaces/ghost/pods', pod('p2'));
    assert.equal(noNs.status, 404);
    assert.equal(field(noNs.body, 'message'), 'namespaces "ghost" not found');

    const badJson = await req('POST', '/api/v1/namespaces/default/pods', '{not json');
    assert.equal(badJson.status, 400);
    assert.equal(field(badJson.body, 'reason'), 'BadRequest');
    const mismatch = await req('PUT', '/api/v1/namespaces/default/pods/other', stale);
    assert.equal(mismatch.status, 400);

    const notAllowed = await req('POST', '/api/v1/pods', pod('p3'));
    assert.equal(notAllowed.status, 405);
    assert.equal(field(notAllowed.body, 'reason'), 'MethodNotAllowed');
    const badPatch = await req('PATCH', '/api/v1/namespaces/default/pods/p1', { a: 1 }, 'application/apply-patch+yaml');
    assert.equal(badPatch.status, 415);

    const badName = await req('POST', '/api/v1/namespaces', { metadata: { name: 'Not_Valid' } });
    assert.equal(badName.status, 422);
    assert.equal(field(badName.body, 'details', 'causes', 0, 'field'), 'metadata.name');
    const noImage = await req('POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'x' }, spec: { containers: [{ name: 'c' }] } });
    assert.equal(noImage.status, 422);
    assert.equal(field(noImage.body, 'details', 'causes', 0, 'field'), 'spec.containers[0].image');
  });

  it('strategic merge patch merges containers by name and ports by containerPort, honours directives', async () => {
    const body = pod('p1');
    (body['spec'] as JsonObject)['containers'] = [
      { name: 'a', image: 'i', ports: [{ containerPort: 80, name: 'http' }] },
      { name: 'b', image: 'i' },
    ];
    await req('POST', '/api/v1/namespaces/default/pods', body);
    const patch = {
      spec: {
        '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }],
        containers: [
          { name: 'a', ports: [{ containerPort: 8080, name: 'alt' }, { containerPort: 80, $patch: 'delete' }] },
          { name: 'b', image: 'j' },
        ],
      },
      metadata: { labels: { app: 'web' } },
    };
    const r = await req('PATCH', '/api/v1/namespaces/default/pods/p1', patch, 'application/strategic-merge-patch+json');
    assert.equal(r.status, 200);
    const containers = field(r.body, 'spec', 'containers') as JsonObject[];
    assert.deepEqual(containers.map((c) => c['name']), ['b', 'a']);
    assert.equal(containers[0]?.['image'], 'j');
    assert.deepEqual(containers[1]?.['ports'], [{ containerPort: 8080, name: 'alt' }]);
    assert.equal(containers[1]?.['image'], 'i');
    assert.equal(field(r.body, 'metadata', 'labels', 'app'), 'web');
  });

  it('JSON patch and merge patch with null deletion', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('p1', { a: '1', b: '2' }));
    const merged = await req('PATCH', '/api/v1/namespaces/default/pods/p1', { metadata: { labels: { a: null } } }, 'application/merge-patch+json');
    assert.deepEqual(field(merged.body, 'metadata', 'labels'), { b: '2' });
    const json = await req('PATCH', '/api/v1/namespaces/default/pods/p1', [
      { op: 'test', path: '/metadata/labels/b', value: '2' },
      { op: 'add', path: '/metadata/labels/c~1d', value: 'x' },
      { op: 'replace', path: '/spec/containers/0/image', value: 'nginx' },
    ], 'application/json-patch+json');
    assert.equal(json.status, 200);
    assert.equal(field(json.body, 'metadata', 'labels', 'c/d'), 'x');
    assert.equal(field(json.body, 'spec', 'containers', 0, 'image'), 'nginx');
    const failed = await req('PATCH', '/api/v1/namespaces/default/pods/p1', [{ op: 'test', path: '/metadata/labels/b', value: 'nope' }], 'application/json-patch+json');
    assert.equal(failed.status, 400);
  });

  it('filters lists by label and field selectors, namespaced and cluster-wide', async () => {
    await req('POST', '/api/v1/namespaces', { metadata: { name: 'other' } });
    await req('POST', '/api/v1/namespaces/default/pods', pod('a', { app: 'web', tier: 'front' }, 'node-1'));
    await req('POST', '/api/v1/namespaces/default/pods', pod('b', { app: 'db' }, 'node-2'));
    await req('POST', '/api/v1/namespaces/other/pods', pod('c', { app: 'web' }, 'node-2'));
    await req('POST', '/api/v1/namespaces/other/pods', pod('d', {}));
    const names = async (path: string): Promise<string[]> => {
      const r = await req('GET', path);
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      return (field(r.body, 'items') as JsonObject[]).map((i) => String(field(i, 'metadata', 'name'))).sort();
    };
    const sel = (s: string): string => encodeURIComponent(s);
    assert.deepEqual(await names('/api/v1/pods'), ['a', 'b', 'c', 'd']);
    assert.deepEqual(await names('/api/v1/namespaces/other/pods'), ['c', 'd']);
    assert.deepEqual(await names(`/api/v1/pods?labelSelector=${sel('app=web')}`), ['a', 'c']);
    assert.deepEqual(await names(`/api/v1/pods?labelSelector=${sel('app==web,tier')}`), ['a']);
    assert.deepEqual(await names(`/api/v1/pods?labelSelector=${sel('app!=web')}`), ['b', 'd']);
    assert.deepEqual(await names(`/api/v1/pods?labelSelector=${sel('app in (db, web),!tier')}`), ['b', 'c']);
    assert.deepEqual(await names(`/api/v1/pods?labelSelector=${sel('app notin (web)')}`), ['b', 'd']);
    assert.deepEqual(await names(`/api/v1/pods?labelSelector=${sel('!app')}`), ['d']);
    assert.deepEqual(await names(`/api/v1/pods?fieldSelector=${sel('spec.nodeName=node-2')}`), ['b', 'c']);
    assert.deepEqual(await names(`/api/v1/pods?fieldSelector=${sel('spec.nodeName=')}`), ['d']);
    assert.deepEqual(await names(`/api/v1/pods?fieldSelector=${sel('metadata.namespace=other,metadata.name!=d')}`), ['c']);
    assert.deepEqual(await names(`/api/v1/namespaces?labelSelector=${sel('kubernetes.io/metadata.name=other')}`), ['other']);
    const bad = await req('GET', `/api/v1/pods?fieldSelector=${sel('spec.bogus=x')}`);
    assert.equal(bad.status, 400);
    const badLabel = await req('GET', `/api/v1/pods?labelSelector=${sel('a in (b')}`);
    assert.equal(badLabel.status, 400);
  });

  it('deleting a namespace deletes its pods and policies', async () => {
    await req('POST', '/api/v1/namespaces', { metadata: { name: 'gone' } });
    await req('POST', '/api/v1/namespaces/gone/pods', pod('a'));
    await req('POST', '/apis/networking.k8s.io/v1/namespaces/gone/networkpolicies', { metadata: { name: 'np' }, spec: { podSelector: {} } });
    await req('POST', '/api/v1/namespaces/default/pods', pod('keep'));
    const del = await req('DELETE', '/api/v1/namespaces/gone');
    assert.equal(del.status, 200);
    assert.equal(field(del.body, 'kind'), 'Namespace');
    assert.equal((await req('GET', '/api/v1/namespaces/gone/pods/a')).status, 404);
    assert.equal((await req('GET', '/apis/networking.k8s.io/v1/namespaces/gone/networkpolicies/np')).status, 404);
    assert.equal((await req('GET', '/api/v1/namespaces/default/pods/keep')).status, 200);
    assert.deepEqual(field((await req('GET', '/api/v1/namespaces/gone/pods')).body, 'items'), []);
  });

  it('serves discovery, OpenAPI v3 with fieldValidation, and Table lists', async () => {
    assert.equal(field((await req('GET', '/version')).body, 'major'), '1');
    assert.deepEqual(field((await req('GET', '/api')).body, 'versions'), ['v1']);
    assert.equal(field((await req('GET', '/apis')).body, 'groups', 0, 'name'), 'networking.k8s.io');
    const core = await req('GET', '/api/v1');
    const resources = (field(core.body, 'resources') as JsonObject[]).map((r) => r['name']);
    assert.ok(resources.includes('pods') && resources.includes('pods/status') && resources.includes('nodes'));
    const np = await req('GET', '/openapi/v3/apis/networking.k8s.io/v1');
    assert.match(np.text, /"fieldValidation"/);

    await req('POST', '/api/v1/namespaces/default/pods', pod('a', {}, 'node-1'));
    await req('PATCH', '/api/v1/namespaces/default/pods/a/status', { status: { podIP: '10.0.0.7' } }, 'application/merge-patch+json');
    const table = await apiRequest(server.url, 'GET', '/api/v1/namespaces/default/pods', {
      headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' },
    });
    assert.equal(field(table.body, 'kind'), 'Table');
    const columns = (field(table.body, 'columnDefinitions') as JsonObject[]).map((c) => c['name']);
    assert.deepEqual(columns, ['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node']);
    const cells = field(table.body, 'rows', 0, 'cells') as JsonValue[];
    assert.equal(cells[0], 'a');
    assert.equal(cells[5], '10.0.0.7');
    assert.equal(cells[6], 'node-1');
  });

  it('checks the bearer token when one is configured', async () => {
    const guarded = await startApiServer({ token: 'secret-token' });
    try {
      assert.equal((await apiRequest(guarded.url, 'GET', '/api/v1/pods', { token: 'wrong' })).status, 401);
      assert.equal((await apiRequest(guarded.url, 'GET', '/api/v1/pods', { token: 'secret-token' })).status, 200);
    } finally {
      await guarded.stop();
    }
  });

  it('store API writes directly and validates like the HTTP API', () => {
    const created = server.store.create('pods', pod('direct'), 'default');
    assert.equal(created.metadata.namespace, 'default');
    assert.equal(server.store.get('pods', 'default', 'direct').metadata.uid, created.metadata.uid);
    assert.throws(() => server.store.create('pods', pod('direct'), 'default'), /already exists/);
    const updated = server.store.patch('pods', 'default', 'direct', 'merge', { status: { podIP: '10.1.1.1' } }, { subresource: 'status' });
    assert.equal(field(updated as unknown as JsonValue, 'status', 'podIP'), '10.1.1.1');
  });
});
