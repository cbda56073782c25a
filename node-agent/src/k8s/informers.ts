// Informers for the objects Loom watches, wrapped so they never stay dead: client-node stops an
// informer on any error other than 410 Gone, so we restart it with backoff. Consumers get a
// level-triggered "something changed" callback and read the whole cache (they recompute).
import * as k8s from '@kubernetes/client-node';
import { errorMessage, logger } from '../util/log.js';

const log = logger('k8s');

export interface WatchedKind<T extends k8s.KubernetesObject> {
  kind: string;
  path: string;
  list: () => Promise<k8s.KubernetesListObject<T>>;
}

export class ResilientInformer<T extends k8s.KubernetesObject> {
  private readonly informer: k8s.Informer<T> & k8s.ObjectCache<T>;
  private synced = false;
  private stopped = false;
  private retryDelay = 250;
  private retryTimer: NodeJS.Timeout | undefined;
  private syncWaiters: Array<() => void> = [];

  constructor(
    kc: k8s.KubeConfig,
    private readonly w: WatchedKind<T>,
    private readonly onChange: (kind: string, type: 'add' | 'update' | 'delete', obj: T) => void,
  ) {
    this.informer = k8s.makeInformer(kc, w.path, w.list);
    this.informer.on('add', (o) => this.onChange(w.kind, 'add', o));
    this.informer.on('update', (o) => this.onChange(w.kind, 'update', o));
    this.informer.on('delete', (o) => this.onChange(w.kind, 'delete', o));
    this.informer.on('connect', () => {
      this.retryDelay = 250;
    });
    this.informer.on('error', (err) => {
      if (this.stopped) return;
      log.warn('watch failed; restarting it', { kind: w.kind, error: errorMessage(err), retryInMs: this.retryDelay });
      this.scheduleRestart();
    });
  }

  /** start() resolves once the list is in the cache and the watch is open. */
  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private scheduleRestart(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      this.informer.start().then(() => this.markSynced(), (e) => {
        log.warn('watch restart failed', { kind: this.w.kind, error: errorMessage(e) });
        this.scheduleRestart();
      });
    }, this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, 5000);
  }

  async start(): Promise<void> {
    this.informer.start().then(() => this.markSynced(), (e) => {
      log.warn('initial list failed; retrying', { kind: this.w.kind, error: errorMessage(e) });
      this.scheduleRestart();
    });
  }

  /** Resolves once the first list has been loaded into the cache. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  list(): readonly T[] {
    return this.informer.list();
  }

  /** One object from the cache (indexed lookup). */
  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.informer.stop().catch(() => undefined);
  }
}

export function nodeWatch(kc: k8s.KubeConfig): WatchedKind<k8s.V1Node> {
  const api = kc.makeApiClient(k8s.CoreV1Api);
  return { kind: 'Node', path: '/api/v1/nodes', list: () => api.listNode() };
}

export function podWatch(kc: k8s.KubeConfig): WatchedKind<k8s.V1Pod> {
  const api = kc.makeApiClient(k8s.CoreV1Api);
  return { kind: 'Pod', path: '/api/v1/pods', list: () => api.listPodForAllNamespaces() };
}

export function namespaceWatch(kc: k8s.KubeConfig): WatchedKind<k8s.V1Namespace> {
  const api = kc.makeApiClient(k8s.CoreV1Api);
  return { kind: 'Namespace', path: '/api/v1/namespaces', list: () => api.listNamespace() };
}

export function networkPolicyWatch(kc: k8s.KubeConfig): WatchedKind<k8s.V1NetworkPolicy> {
  const api = kc.makeApiClient(k8s.NetworkingV1Api);
  return {
    kind: 'NetworkPolicy',
    path: '/apis/networking.k8s.io/v1/networkpolicies',
    list: () => api.listNetworkPolicyForAllNamespaces(),
  };
}
