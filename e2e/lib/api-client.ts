// The harness's client of the test API server: plain HTTP over the server's unix-socket side door
// (the harness runs in the root network namespace and cannot reach https://10.0.0.2:6443).
import { request } from 'node:http';
import type { V1Namespace, V1NetworkPolicy, V1Node, V1Pod } from '@kubernetes/client-node';

export type ResourcePlural = 'nodes' | 'namespaces' | 'pods' | 'networkpolicies';
type ObjectOf<R extends ResourcePlural> = R extends 'nodes' ? V1Node : R extends 'namespaces' ? V1Namespace : R extends 'pods' ? V1Pod : V1NetworkPolicy;
export interface ListOf<T> {
  metadata: { resourceVersion: string };
  items: T[];
}
export type FaultAction = 'pause-refuse' | 'pause-hang' | 'resume' | 'compact-history' | 'close-watches';

/** An error answer of the API server (its JSON Status). */
export class ApiRequestError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string) {
    super(message);
  }
}

const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function basePath(resource: ResourcePlural, namespace: string | undefined): string {
  const group = resource === 'networkpolicies' ? '/apis/networking.k8s.io/v1' : '/api/v1';
  if (namespace !== undefined && !NAME_RE.test(namespace)) throw new Error(`invalid namespace name "${namespace}"`);
  return namespace === undefined ? `${group}/${resource}` : `${group}/namespaces/${namespace}/${resource}`;
}

function objectPath(resource: ResourcePlural, namespace: string | undefined, name: string, status = false): string {
  if (!NAME_RE.test(name)) throw new Error(`invalid object name "${name}"`);
  return `${basePath(resource, namespace)}/${name}${status ? '/status' : ''}`;
}

export class ApiClient {
  constructor(readonly socketPath: string) {}

  /** One HTTP request; JSON in, JSON out; non-2xx throws ApiRequestError with the Status message. */
  async call<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        { socketPath: this.socketPath, method, path, headers: payload === undefined ? {} : { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) }, timeout: 15000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within 15 s from the test API server at ${this.socketPath} (${method} ${path})`)));
      req.on('error', (e) => reject(new Error(`test API server side door ${this.socketPath}: ${method} ${path} failed: ${e.message}; is the API server process still running?`)));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new Error(`test API server answered ${method} ${path} with non-JSON (${status}): ${text.slice(0, 200)}`);
    }
    if (status < 200 || status > 299) {
      const s = (json ?? {}) as { message?: string; reason?: string; error?: string };
      throw new ApiRequestError(status, s.reason ?? '', `${method} ${path}: ${status} ${s.message ?? s.error ?? text}`);
    }
    return json as T;
  }

  get<R extends ResourcePlural>(resource: R, namespace: string | undefined, name: string): Promise<ObjectOf<R>> {
    return this.call('GET', objectPath(resource, namespace, name));
  }

  /** Lists; `namespace` undefined lists across namespaces. Selectors as in kubectl (-l, --field-selector). */
  list<R extends ResourcePlural>(resource: R, namespace?: string, opts: { labelSelector?: string; fieldSelector?: string } = {}): Promise<ListOf<ObjectOf<R>>> {
    const q = new URLSearchParams();
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    const qs = q.toString();
    return this.call('GET', `${basePath(resource, namespace)}${qs ? `?${qs}` : ''}`);
  }

  create<R extends ResourcePlural>(resource: R, namespace: string | undefined, obj: ObjectOf<R>): Promise<ObjectOf<R>> {
    return this.call('POST', basePath(resource, namespace), obj);
  }

  /** JSON merge patch, of the object or (status: true) of its status subresource. */
  mergePatch<R extends ResourcePlural>(resource: R, namespace: string | undefined, name: string, patch: object, opts: { status?: boolean } = {}): Promise<ObjectOf<R>> {
    return this.call('PATCH', objectPath(resource, namespace, name, opts.status ?? false), patch, 'application/merge-patch+json');
  }

  delete<R extends ResourcePlural>(resource: R, namespace: string | undefined, name: string): Promise<ObjectOf<R>> {
    return this.call('DELETE', objectPath(resource, namespace, name));
  }

  /** Creates the Namespace unless it exists (409 AlreadyExists is fine). */
  async ensureNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    try {
      await this.create('namespaces', undefined, { metadata: { name, labels } });
    } catch (e) {
      if (!(e instanceof ApiRequestError && e.code === 409)) throw e;
    }
  }

  /** Fault injection on the API server (outages, 410 Gone, cut watches) for reliability tests. */
  async fault(action: FaultAction): Promise<void> {
    await this.call('POST', `/loom-test/${action}`);
  }
}
