// In-memory object store with one global resourceVersion counter, a bounded event history for
// watch resumption, watchers with selector semantics, and fault injection for reliability tests.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { alreadyExists, badRequest, conflict, gone, invalid, notFound, STALE_OBJECT } from './errors.js';
import type { PatchType } from './patch.js';
import { applyPatch } from './patch.js';
import type { ResourceName, ResourceType } from './resources.js';
import { RESOURCE_TYPES, resourceType } from './resources.js';
import type { ObjectFilter } from './selectors.js';
import { matchesFilter } from './selectors.js';
import type { JsonValue, KubeObject, ListObject, ObjectMeta, WatchEvent } from './types.js';
import { deepCopy, isJsonObject } from './types.js';
import { validateObject } from './validation.js';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEntry {
  resourceVersion: number;
  resource: ResourceName;
  type: ChangeType;
  object: KubeObject;
  previous?: KubeObject;
}

/** How a paused server behaves: refuse = connections are refused; hang = requests wait until resume(). */
export type PauseMode = 'refuse' | 'hang';

export interface Watcher {
  resource: ResourceName;
  filter: ObjectFilter;
  send(event: WatchEvent): void;
  close(): void;
}

export interface StoreOptions {
  /** Number of change events kept for watch resumption (older resumes get 410 Gone). */
  historySize: number;
}

export interface WriteOptions {
  subresource?: 'status';
}

export interface DeletePreconditions {
  uid?: string;
  resourceVersion?: string;
}

const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

/** Object without resourceVersion, to tell a real change from a no-op write. */
function comparable(obj: KubeObject): string {
  const copy = deepCopy(obj);
  delete copy.metadata.resourceVersion;
  return JSON.stringify(copy);
}

export class ObjectStore extends EventEmitter {
  private resourceVersion = 0;
  /** Watches that resume from a version older than this get 410 Gone. */
  private oldestResumable = 0;
  private readonly objects = new Map<ResourceName, Map<string, KubeObject>>();
  private history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private pauseMode: PauseMode | undefined;

  constructor(private readonly options: StoreOptions) {
    super();
    if (!Number.isInteger(options.historySize) || options.historySize < 1) {
      throw new Error(`historySize must be a positive integer, got ${options.historySize}`);
    }
    for (const rt of RESOURCE_TYPES) this.objects.set(rt.plural, new Map());
    for (const name of INITIAL_NAMESPACES) this.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  currentResourceVersion(): string {
    return String(this.resourceVersion);
  }

  private table(resource: ResourceName): Map<string, KubeObject> {
    const t = this.objects.get(resource);
    if (!t) throw new Error(`unknown resource ${resource}`);
    return t;
  }

  get(resource: ResourceName, namespace: string | undefined, name: string): KubeObject {
    const rt = resourceType(resource);
    const obj = this.table(resource).get(keyOf(rt.namespaced ? namespace : undefined, name));
    if (!obj) throw notFound(rt, name);
    return deepCopy(obj);
  }

  list(resource: ResourceName, filter: ObjectFilter = { labels: [], fields: [] }): ListObject {
    const rt = resourceType(resource);
    const items = [...this.table(resource).values()]
      .filter((o) => matchesFilter(filter, o))
      .sort((a, b) => keyOf(a.metadata.namespace, a.metadata.name ?? '').localeCompare(keyOf(b.metadata.namespace, b.metadata.name ?? '')))
      .map((o) => deepCopy(o));
    return { apiVersion: rt.apiVersion, kind: rt.listKind, metadata: { resourceVersion: this.currentResourceVersion() }, items };
  }

  /** Checks the body's shape and type, and fixes namespace, apiVersion and kind. */
  private normalize(rt: ResourceType, body: unknown, urlNamespace: string | undefined): KubeObject {
    if (!isJsonObject(body)) throw badRequest(`the request body must be a JSON ${rt.kind} object`);
    const obj = deepCopy(body) as unknown as KubeObject;
    if (obj.metadata === undefined || obj.metadata === null) obj.metadata = {};
    if (!isJsonObject(obj.metadata)) throw badRequest('metadata must be an object');
    if (obj.apiVersion !== undefined && obj.apiVersion !== rt.apiVersion) {
      throw badRequest(`apiVersion "${String(obj.apiVersion)}" does not match the endpoint's ${rt.apiVersion}`);
    }
    if (obj.kind !== undefined && obj.kind !== rt.kind) throw badRequest(`kind "${String(obj.kind)}" does not match the endpoint's ${rt.kind}`);
    obj.apiVersion = rt.apiVersion;
    obj.kind = rt.kind;
    const meta = obj.metadata;
    if (rt.namespaced) {
      if (urlNamespace !== undefined && meta.namespace && meta.namespace !== urlNamespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = urlNamespace ?? meta.namespace ?? 'default';
    } else {
      delete meta.namespace;
    }
    return obj;
  }

  private generateName(rt: ResourceType, meta: ObjectMeta): string {
    for (;;) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)];
      const name = `${meta.generateName ?? ''}${suffix}`;
      if (!this.table(rt.plural).has(keyOf(meta.namespace, name))) return name;
    }
  }

  private applyDefaults(rt: ResourceType, obj: KubeObject): void {
    if (rt.plural === 'namespaces') {
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name ?? '' };
      if (!isJsonObject(obj['spec'])) obj['spec'] = { finalizers: ['kubernetes'] };
      if (!isJsonObject(obj['status'])) obj['status'] = { phase: 'Active' };
    }
    if (rt.plural === 'pods' && !isJsonObject(obj['status'])) obj['status'] = { phase: 'Pending' };
  }

  private checkValid(rt: ResourceType, obj: KubeObject): void {
    const errors = validateObject(rt, obj);
    if (errors.length > 0) throw invalid(rt, obj.metadata.name ?? obj.metadata.generateName ?? '', errors);
  }

  /** POST: creates an object; urlNamespace is the namespace of the request path (if any). */
  create(resource: ResourceName, body: unknown, urlNamespace?: string): KubeObject {
    const rt = resourceType(resource);
    const obj = this.normalize(rt, body, urlNamespace);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) meta.name = this.generateName(rt, meta);
    for (const field of ['uid', 'resourceVersion', 'deletionTimestamp', 'managedFields', 'generation'] as const) delete meta[field];
    meta.uid = randomUUID();
    meta.creationTimestamp = now();
    if (rt.hasGeneration) meta.generation = 1;
    this.applyDefaults(rt, obj);
    this.checkValid(rt, obj);
    const name = meta.name ?? '';
    if (rt.namespaced && !this.table('namespaces').has(keyOf(undefined, meta.namespace ?? ''))) {
      throw notFound(resourceType('namespaces'), meta.namespace ?? '');
    }
    const key = keyOf(meta.namespace, name);
    if (this.table(resource).has(key)) throw alreadyExists(rt, name);
    return this.commit(rt, 'ADDED', obj);
  }

  /** PUT: replaces an object (or only its status with subresource "status"). */
  update(resource: ResourceName, body: unknown, urlNamespace?: string, urlName?: string, options: WriteOptions = {}): KubeObject {
    const rt = resourceType(resource);
    const obj = this.normalize(rt, body, urlNamespace);
    const name = obj.metadata.name ?? urlName ?? '';
    if (urlName !== undefined && obj.metadata.name !== undefined && obj.metadata.name !== urlName) {
      throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${urlName})`);
    }
    obj.metadata.name = name;
    const existing = this.table(resource).get(keyOf(obj.metadata.namespace, name));
    if (!existing) throw notFound(rt, name);
    const wanted = obj.metadata.resourceVersion;
    if (wanted !== undefined && wanted !== '' && wanted !== existing.metadata.resourceVersion) throw conflict(rt, name, STALE_OBJECT);
    return this.replace(rt, existing, obj, options);
  }

  private replace(rt: ResourceType, existing: KubeObject, obj: KubeObject, options: WriteOptions): KubeObject {
    let next: KubeObject;
    if (options.subresource === 'status') {
      if (!rt.hasStatus) throw notFound(rt, existing.metadata.name ?? '');
      next = deepCopy(existing);
      if (obj['status'] === undefined) delete next['status'];
      else next['status'] = deepCopy(obj['status']);
    } else {
      next = obj;
      const keep = existing.metadata;
      next.metadata.uid = keep.uid;
      next.metadata.creationTimestamp = keep.creationTimestamp;
      if (keep.generation === undefined) delete next.metadata.generation;
      else next.metadata.generation = keep.generation;
      if (rt.hasStatus) {
        if (existing['status'] === undefined) delete next['status'];
        else next['status'] = deepCopy(existing['status']);
      }
      if (rt.hasGeneration && JSON.stringify(next['spec'] ?? null) !== JSON.stringify(existing['spec'] ?? null)) {
        next.metadata.generation = (keep.generation ?? 1) + 1;
      }
      if (rt.plural === 'namespaces') {
        next.metadata.labels = { ...next.metadata.labels, 'kubernetes.io/metadata.name': next.metadata.name ?? '' };
      }
    }
    next.metadata.resourceVersion = existing.metadata.resourceVersion;
    this.checkValid(rt, next);
    if (comparable(next) === comparable(existing)) return deepCopy(existing);
    return this.commit(rt, 'MODIFIED', next, existing);
  }

  /** PATCH with a merge, strategic merge or JSON patch (or of the status only). */
  patch(resource: ResourceName, namespace: string | undefined, name: string, type: PatchType, patch: JsonValue, options: WriteOptions = {}): KubeObject {
    const rt = resourceType(resource);
    const existing = this.get(resource, namespace, name);
    const patched = applyPatch(type, existing as unknown as JsonValue, patch);
    if (!isJsonObject(patched) || !isJsonObject(patched['metadata'])) throw badRequest('the patched object must be a JSON object with metadata');
    return this.update(resource, patched, rt.namespaced ? namespace : undefined, name, options);
  }

  /** DELETE: removes the object (a namespace takes its pods and policies with it) and returns it. */
  delete(resource: ResourceName, namespace: string | undefined, name: string, preconditions: DeletePreconditions = {}): KubeObject {
    const rt = resourceType(resource);
    const existing = this.get(resource, namespace, name);
    if (preconditions.uid && preconditions.uid !== existing.metadata.uid) {
      throw conflict(rt, name, `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${existing.metadata.uid ?? ''}`);
    }
    if (preconditions.resourceVersion && preconditions.resourceVersion !== existing.metadata.resourceVersion) {
      throw conflict(rt, name, `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${existing.metadata.resourceVersion ?? ''}`);
    }
    if (resource === 'namespaces') {
      for (const inner of RESOURCE_TYPES.filter((r) => r.namespaced)) {
        for (const obj of [...this.table(inner.plural).values()]) {
          if (obj.metadata.namespace === name) this.delete(inner.plural, name, obj.metadata.name ?? '');
        }
      }
    }
    const deleted = deepCopy(existing);
    deleted.metadata.deletionTimestamp = now();
    if (resource === 'namespaces') deleted['status'] = { phase: 'Terminating' };
    return this.commit(rt, 'DELETED', deleted, existing);
  }

  private commit(rt: ResourceType, type: ChangeType, obj: KubeObject, previous?: KubeObject): KubeObject {
    this.resourceVersion++;
    obj.metadata.resourceVersion = this.currentResourceVersion();
    const key = keyOf(obj.metadata.namespace, obj.metadata.name ?? '');
    if (type === 'DELETED') this.table(rt.plural).delete(key);
    else this.table(rt.plural).set(key, deepCopy(obj));
    const entry: HistoryEntry = { resourceVersion: this.resourceVersion, resource: rt.plural, type, object: deepCopy(obj) };
    if (previous) entry.previous = deepCopy(previous);
    this.history.push(entry);
    while (this.history.length > this.options.historySize) {
      const evicted = this.history.shift();
      if (evicted) this.oldestResumable = evicted.resourceVersion;
    }
    for (const w of [...this.watchers]) if (w.resource === rt.plural) deliver(w, entry);
    return deepCopy(obj);
  }

  /**
   * Starts a watch. Without a resourceVersion (or "0") it first sends ADDED for every matching object;
   * otherwise it replays the retained events after that version. Throws 410 Gone when they are not retained.
   * Returns a function that ends the watch.
   */
  watch(watcher: Watcher, resourceVersion: string | undefined): () => void {
    if (!resourceVersion || resourceVersion === '0') {
      for (const obj of this.list(watcher.resource, watcher.filter).items) watcher.send({ type: 'ADDED', object: obj });
    } else {
      if (!/^\d+$/.test(resourceVersion)) throw badRequest(`invalid resource version: ${resourceVersion}`);
      const from = Number(resourceVersion);
      if (from < this.oldestResumable) throw gone(from, this.oldestResumable);
      for (const entry of this.history) {
        if (entry.resourceVersion > from && entry.resource === watcher.resource) deliver(watcher, entry);
      }
    }
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  // ---- fault injection for reliability tests ----

  /** Forgets the event history so that the next watch resume from any version seen so far gets 410 Gone. */
  compactHistory(): void {
    this.resourceVersion++; // as if some other object had been written: current versions become too old
    this.history = [];
    this.oldestResumable = this.resourceVersion;
  }

  /** Ends every open watch stream (clients see the connection close and re-watch). */
  closeWatches(): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.close();
    }
  }

  /** Simulates an API server outage until resume(); open watches are cut. */
  pause(mode: PauseMode = 'refuse'): void {
    this.pauseMode = mode;
    this.closeWatches();
    this.emit('pause', mode);
  }

  resume(): void {
    this.pauseMode = undefined;
    this.emit('resume');
  }

  get paused(): PauseMode | undefined {
    return this.pauseMode;
  }

  get watchCount(): number {
    return this.watchers.size;
  }
}

/** Sends a change to a watcher with selector semantics: objects moving in or out of the selection become ADDED/DELETED. */
function deliver(watcher: Watcher, entry: HistoryEntry): void {
  const nowMatches = matchesFilter(watcher.filter, entry.object);
  if (entry.type !== 'MODIFIED') {
    if (nowMatches) watcher.send({ type: entry.type, object: deepCopy(entry.object) });
    return;
  }
  const matchedBefore = entry.previous !== undefined && matchesFilter(watcher.filter, entry.previous);
  if (nowMatches && matchedBefore) watcher.send({ type: 'MODIFIED', object: deepCopy(entry.object) });
  else if (nowMatches) watcher.send({ type: 'ADDED', object: deepCopy(entry.object) });
  else if (matchedBefore) watcher.send({ type: 'DELETED', object: deepCopy(entry.object) });
}
