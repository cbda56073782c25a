// Test API server: watches (resume, 410 Gone, bookmarks, selectors, timeouts), fault injection,
// and a @kubernetes/client-node informer that must see add/update/delete and relist after a 410.
import assert from 'node:assert/strict';
import { CoreV1Api, KubeConfig, makeInformer } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import type { ApiServer } from '../apiserver/server.js';
import { startApiServer } from '../apiserver/server.js';
import { apiRequest, openWatch } from '../apiserver/testclient.js';
import type { JsonObject, KubeObject, Status } from '../apiserver/types.js';

const pod = (name: string, labels: Record<string, string> = {}, nodeName?: string): JsonObject => ({
  metadata: { name, labels },
  spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'c', image: 'busybox' }] },
});

const nameOf = (o: KubeObject | Status): string | undefined => (o.kind === 'Status' ? undefined : (o as KubeObject).metadata.name);

/** Polls until check() is true; a hang guard for asynchronous clients, not a timing assertion. */
async function eventually(what: string, check: () => boolean, guardMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > guardMs) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('test API server: watch', function () {
  let server: ApiServer;
  beforeEach(async () => {
    server = await startApiServer({ historySize: 5, bookmarkIntervalMs: 100 });
  });
  afterEach(async () => {
    await server.stop();
  });

  it('streams ADDED, MODIFIED and DELETED after the listed resourceVersion', async () => {
    server.store.create('pods', pod('before'), 'default');
    const list = server.store.list('pods');
    const w = await openWatch(server.url, `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${list.metadata.resourceVersion}`);
    try {
      assert.equal(w.status, 200);
      server.store.create('pods', pod('p1'), 'default');
      server.store.patch('pods', 'default', 'p1', 'merge', { metadata: { labels: { a: 'b' } } });
      server.store.delete('pods', 'default', 'p1');
      const events = [await w.next(), await w.next(), await w.next()];
      assert.deepEqual(events.map((e) => [e.type, nameOf(e.object)]), [['ADDED', 'p1'], ['MODIFIED', 'p1'], ['DELETED', 'p1']]);
      const versions = events.map((e) => Number((e.object as KubeObject).metadata.resourceVersion));
      assert.ok(versions[0]! < versions[1]! && versions[1]! < versions[2]!, `versions must increase: ${versions.join(',')}`);
    } finally {
      w.close();
    }
  });

  it('without resourceVersion sends the current objects as ADDED first', async () => {
    server.store.create('pods', pod('a'), 'default');
    server.store.create('pods', pod('b'), 'default');
    const w = await openWatch(server.url, '/api/v1/pods?watch=1');
    try {
      const names = [nameOf((await w.next()).object), nameOf((await w.next()).object)].sort();
      assert.deepEqual(names, ['a', 'b']);
    } finally {
      w.close();
    }
  });

  it('resuming from an older version replays only the later events', async () => {
    const a = server.store.create('pods', pod('a'), 'default');
    server.store.create('pods', pod('b'), 'default');
    server.store.create('nodes', { metadata: { name: 'n1' } });
    server.store.delete('pods', 'default', 'a');
    const w = await openWatch(server.url, `/api/v1/pods?watch=true&resourceVersion=${a.metadata.resourceVersion ?? ''}`);
    try {
      const first = await w.next();
      const second = await w.next();
      assert.deepEqual([first.type, nameOf(first.object)], ['ADDED', 'b']);
      assert.deepEqual([second.type, nameOf(second.object)], ['DELETED', 'a']);
    } finally {
      w.close();
    }
  });

  it('answers a resume from outside the retained history with an ERROR event carrying 410 Gone', async () => {
    const first = server.store.create('pods', pod('p0'), 'default');
    for (let i = 1; i <= 6; i++) server.store.create('pods', pod(`p${i}`), 'default'); // history holds 5
    const w = await openWatch(server.url, `/api/v1/pods?watch=true&resourceVersion=${first.metadata.resourceVersion ?? ''}`);
    const event = await w.next();
    assert.equal(w.status, 200);
    assert.equal(event.type, 'ERROR');
    const status = event.object as Status;
    assert.equal(status.kind, 'Status');
    assert.equal(status.code, 410);
    assert.equal(status.reason, 'Expired');
    await w.ended;
  });

  it('compactHistory forces 410 even for a client that was up to date', async () => {
    server.store.create('pods', pod('p'), 'default');
    const rv = server.store.currentResourceVersion();
    server.store.compactHistory();
    const w = await openWatch(server.url, `/api/v1/pods?watch=true&resourceVersion=${rv}`);
    const event = await w.next();
    assert.equal(event.type, 'ERROR');
    assert.equal((event.object as Status).code, 410);
    const fresh = await openWatch(server.url, `/api/v1/pods?watch=true&resourceVersion=${server.store.currentResourceVersion()}`);
    try {
      server.store.create('pods', pod('q'), 'default');
      assert.equal(nameOf((await fresh.next()).object), 'q', 'a watch from the current version works after compaction');
    } finally {
      fresh.close();
    }
  });

  it('sends BOOKMARK events with the current resourceVersion when allowed', async () => {
    server.store.create('pods', pod('p'), 'default');
    const w = await openWatch(server.url, `/api/v1/pods?watch=true&allowWatchBookmarks=true&resourceVersion=${server.store.currentResourceVersion()}`);
    try {
      const event = await w.next();
      assert.equal(event.type, 'BOOKMARK');
      const obj = event.object as KubeObject;
      assert.equal(obj.kind, 'Pod');
      assert.equal(obj.metadata.resourceVersion, server.store.currentResourceVersion());
    } finally {
      w.close();
    }
    const plain = await openWatch(server.url, `/api/v1/pods?watch=true&timeoutSeconds=1&resourceVersion=${server.store.currentResourceVersion()}`);
    await plain.ended;
    await assert.rejects(plain.next(), /ended/, 'no bookmarks unless allowWatchBookmarks=true');
  });

  it('honours timeoutSeconds by ending the stream', async () => {
    const w = await openWatch(server.url, `/api/v1/pods?watch=true&timeoutSeconds=1&resourceVersion=${server.store.currentResourceVersion()}`);
    await w.ended;
    assert.equal(server.store.watchCount, 0);
  });

  it('applies label and field selectors to watches, turning moves in and out into ADDED and DELETED', async () => {
    const rv = server.store.currentResourceVersion();
    const byLabel = await openWatch(server.url, `/api/v1/pods?watch=true&resourceVersion=${rv}&labelSelector=${encodeURIComponent('app in (web)')}`);
    const byNode = await openWatch(server.url, `/api/v1/pods?watch=true&resourceVersion=${rv}&fieldSelector=${encodeURIComponent('spec.nodeName=node-a')}`);
    try {
      server.store.create('pods', pod('x', { app: 'db' }, 'node-b'), 'default');
      server.store.create('pods', pod('y', { app: 'web' }, 'node-a'), 'default');
      server.store.patch('pods', 'default', 'x', 'merge', { metadata: { labels: { app: 'web' } } });
      server.store.patch('pods', 'default', 'y', 'merge', { metadata: { labels: { app: 'db' } } });
      const labelEvents = [await byLabel.next(), await byLabel.next(), await byLabel.next()];
      assert.deepEqual(labelEvents.map((e) => [e.type, nameOf(e.object)]), [['ADDED', 'y'], ['ADDED', 'x'], ['DELETED', 'y']]);
      const nodeEvent = await byNode.next();
      assert.deepEqual([nodeEvent.type, nameOf(nodeEvent.object)], ['ADDED', 'y']);
      const next = await byNode.next();
      assert.deepEqual([next.type, nameOf(next.object)], ['MODIFIED', 'y'], 'x on node-b must not be seen by the node-a watch');
    } finally {
      byLabel.close();
      byNode.close();
    }
  });

  it('closeWatches ends open streams; pause(refuse) refuses and pause(hang) holds requests until resume', async () => {
    const w = await openWatch(server.url, `/api/v1/pods?watch=true&resourceVersion=${server.store.currentResourceVersion()}`);
    server.store.closeWatches();
    await w.ended;

    server.store.pause('refuse');
    await assert.rejects(apiRequest(server.url, 'GET', '/api/v1/pods'));
    server.store.resume();
    assert.equal((await apiRequest(server.url, 'GET', '/api/v1/pods')).status, 200);

    server.store.pause('hang');
    let answered = false;
    const pending = apiRequest(server.url, 'GET', '/api/v1/namespaces/default/pods/late').then((r) => {
      answered = true;
      return r;
    });
    server.store.create('pods', pod('late'), 'default'); // the store still accepts direct writes
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(answered, false, 'a paused server must not answer');
    server.store.resume();
    assert.equal((await pending).status, 200);
  });
});

describe('test API server: @kubernetes/client-node informer', function () {
  let server: ApiServer;
  beforeEach(async () => {
    server = await startApiServer({ historySize: 50, bookmarkIntervalMs: 200 });
  });
  afterEach(async () => {
    await server.stop();
  });

  it('sees add, update and delete, and relists after a 410', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const informer = makeInformer<V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
    const seen: string[] = [];
    const errors: unknown[] = [];
    informer.on('add', (p) => seen.push(`add ${p.metadata?.name ?? ''}`));
    informer.on('update', (p) => seen.push(`update ${p.metadata?.name ?? ''} ${JSON.stringify(p.metadata?.labels ?? {})}`));
    informer.on('delete', (p) => seen.push(`delete ${p.metadata?.name ?? ''}`));
    informer.on('error', (err) => errors.push(err));
    server.store.create('pods', pod('existing'), 'default');
    await informer.start();
    try {
      await eventually('initial list', () => seen.includes('add existing'));
      await eventually('watch open', () => server.store.watchCount === 1);
      server.store.create('pods', pod('p1'), 'default');
      server.store.patch('pods', 'default', 'p1', 'merge', { metadata: { labels: { v: '2' } } });
      server.store.delete('pods', 'default', 'existing');
      await eventually('add/update/delete', () => seen.includes('add p1') && seen.includes('update p1 {"v":"2"}') && seen.includes('delete existing'));

      // Outage: the informer re-watches into a hanging server while changes happen and history is compacted.
      server.store.pause('hang');
      server.store.create('pods', pod('during-outage'), 'default');
      server.store.delete('pods', 'default', 'p1');
      server.store.compactHistory();
      server.store.resume();
      await eventually('relist after 410', () => seen.includes('add during-outage') && seen.includes('delete p1'));
      await eventually('watch reopened', () => server.store.watchCount === 1);
      server.store.create('pods', pod('after'), 'default');
      await eventually('events after relist', () => seen.includes('add after'));
      assert.deepEqual(informer.list().map((p) => p.metadata?.name).sort(), ['after', 'during-outage']);
      assert.deepEqual(errors, []);
    } finally {
      await informer.stop();
    }
  });
});
