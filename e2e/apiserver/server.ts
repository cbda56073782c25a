// HTTPS front of the test API server: routing of Kubernetes REST paths onto the ObjectStore,
// list/watch streaming with bookmarks and timeouts, Table responses, discovery, auth and outages.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiGroup, apiGroupList, apiResourceList, coreApiVersions, openApiV3GroupVersion, openApiV3Root, versionInfo } from './discovery.js';
import { ApiError, badRequest, internalError, methodNotAllowed, pathNotFound, unauthorized, unsupportedMediaType } from './errors.js';
import { writeKubeconfig } from './kubeconfig.js';
import { patchTypeOf } from './patch.js';
import { decodeProtobufObject, PROTOBUF_CONTENT_TYPE } from './protobuf.js';
import type { ResourceType } from './resources.js';
import { findResourceType } from './resources.js';
import type { ObjectFilter } from './selectors.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { DeletePreconditions, PauseMode, Watcher, WriteOptions } from './store.js';
import { ObjectStore } from './store.js';
import type { IncludeObject } from './table.js';
import { toTable } from './table.js';
import { makeSelfSignedCert } from './tls.js';
import type { JsonValue, WatchEvent } from './types.js';
import { isJsonObject } from './types.js';

export interface ApiServerOptions {
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** 0 (default) picks an ephemeral port. */
  port?: number;
  /** Change events retained for watch resumption; default 1000. */
  historySize?: number;
  /** Interval of BOOKMARK events on watches that allow them; default 60000 (like kube-apiserver's ~1 min). */
  bookmarkIntervalMs?: number;
  /** Watch length when the client sets no timeoutSeconds; default 1800. */
  defaultWatchTimeoutSeconds?: number;
  /** When set, requests must carry `Authorization: Bearer <token>`; otherwise any (or no) token is accepted. */
  token?: string;
  /** Where to write the kubeconfig; default a file in a fresh loomt- temp dir. */
  kubeconfigPath?: string;
  /** Receives one line per request (method, path, status) for debugging. */
  log?: (line: string) => void;
  /**
   * Also serve plain HTTP on this unix socket: the e2e harness's side door. Unix sockets are files, so a
   * process in another network namespace reaches it. Requests on it ignore pause() (like direct store
   * writes) and it adds fault-injection endpoints: POST /loom-test/{pause-refuse,pause-hang,resume,
   * compact-history,close-watches}.
   */
  unixSocketPath?: string;
}

export interface ApiServer {
  /** https://host:port */
  url: string;
  host: string;
  port: number;
  kubeconfigPath: string;
  token: string;
  store: ObjectStore;
  /** The side-door socket when unixSocketPath was given. */
  unixSocketPath?: string;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;
const TABLE_CONTENT_TYPE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

interface Route {
  rt: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: 'status';
}

function sendJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw badRequest(`request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): JsonValue {
  try {
    return JSON.parse(body.toString('utf8')) as JsonValue;
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Maps /api/v1/... and /apis/GROUP/VERSION/... onto a resource route. */
function parseResourcePath(segments: string[]): Route | undefined {
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === 'api' && segments.length >= 3) {
    group = '';
    version = segments[1] ?? '';
    rest = segments.slice(2);
  } else if (segments[0] === 'apis' && segments.length >= 4) {
    group = segments[1] ?? '';
    version = segments[2] ?? '';
    rest = segments.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status') {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const rt = findResourceType(group, version, rest[0] ?? '');
  if (!rt || rest.length > 3) return undefined;
  if (namespace !== undefined && !rt.namespaced) return undefined;
  const route: Route = { rt };
  if (namespace !== undefined) route.namespace = namespace;
  if (rest[1] !== undefined) route.name = rest[1];
  if (rest[2] !== undefined) {
    if (rest[2] !== 'status' || !rt.hasStatus) return undefined;
    route.subresource = 'status';
  }
  return route;
}

function wantsTable(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept.split(',').some((part) => /as=Table/.test(part) && /g=meta\.k8s\.io/.test(part));
}

function includeObjectOf(query: URLSearchParams): IncludeObject {
  const v = query.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

function positiveNumber(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw badRequest(`${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  const host = options.host ?? '127.0.0.1';
  const bookmarkIntervalMs = options.bookmarkIntervalMs ?? 60_000;
  const defaultWatchTimeoutSeconds = options.defaultWatchTimeoutSeconds ?? 1800;
  const token = options.token ?? randomBytes(16).toString('hex');
  const requireToken = options.token !== undefined;
  const log = options.log ?? ((): void => undefined);
  const store = new ObjectStore({ historySize: options.historySize ?? 1000 });
  const workDir = await mkdtemp(join(tmpdir(), 'loomt-apiserver-'));
  const tls = await makeSelfSignedCert(workDir, host);

  const sockets = new Set<Socket>();
  const held: (() => void)[] = [];
  const watchEnds = new Set<() => void>();
  let serverAddress = '';

  function handleWatch(req: IncomingMessage, res: ServerResponse, route: Route, query: URLSearchParams, filter: ObjectFilter): void {
    const timeoutSeconds = positiveNumber(query, 'timeoutSeconds') ?? defaultWatchTimeoutSeconds;
    const bookmarks = query.get('allowWatchBookmarks') === 'true';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    let ended = false;
    const timers: NodeJS.Timeout[] = [];
    let unsubscribe = (): void => undefined;
    const end = (): void => {
      if (ended) return;
      ended = true;
      timers.forEach((t) => clearTimeout(t));
      unsubscribe();
      watchEnds.delete(end);
      res.end();
    };
    const write = (event: WatchEvent): void => {
      if (!ended) res.write(JSON.stringify(event) + '\n');
    };
    watchEnds.add(end);
    req.on('close', end);
    res.on('close', end);
    const watcher: Watcher = { resource: route.rt.plural, filter, send: write, close: end };
    try {
      unsubscribe = store.watch(watcher, query.get('resourceVersion') ?? undefined);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      write({ type: 'ERROR', object: err.status });
      end();
      return;
    }
    timers.push(setTimeout(end, timeoutSeconds * 1000));
    if (bookmarks) {
      const rt = route.rt;
      timers.push(setInterval(() => {
        write({ type: 'BOOKMARK', object: { apiVersion: rt.apiVersion, kind: rt.kind, metadata: { resourceVersion: store.currentResourceVersion() } } });
      }, bookmarkIntervalMs));
    }
  }

  async function handleResource(req: IncomingMessage, res: ServerResponse, route: Route, query: URLSearchParams): Promise<void> {
    const { rt, namespace, name, subresource } = route;
    const method = req.method ?? 'GET';
    const writeOptions: WriteOptions = subresource ? { subresource } : {};
    if (name === undefined) {
      if (method === 'GET') {
        const filter: ObjectFilter = { labels: parseLabelSelector(query.get('labelSelector')), fields: parseFieldSelector(query.get('fieldSelector'), rt) };
        if (namespace !== undefined) filter.namespace = namespace;
        const watch = query.get('watch');
        if (watch === 'true' || watch === '1') return handleWatch(req, res, route, query, filter);
        const list = store.list(rt.plural, filter);
        if (wantsTable(req)) return sendJson(res, 200, toTable(rt, list.items, list.metadata.resourceVersion, includeObjectOf(query)), TABLE_CONTENT_TYPE);
        return sendJson(res, 200, list);
      }
      if (method === 'POST') {
        if (rt.namespaced && namespace === undefined) throw methodNotAllowed(`create ${rt.plural} in a namespace: POST /.../namespaces/NAMESPACE/${rt.plural}`);
        return sendJson(res, 201, store.create(rt.plural, await readObject(req), namespace));
      }
      throw methodNotAllowed(`${method} is not supported on the ${rt.plural} collection (supported: GET, POST)`);
    }
    if (rt.namespaced && namespace === undefined) throw pathNotFound(req.url ?? '');
    switch (method) {
      case 'GET': {
        const obj = store.get(rt.plural, namespace, name);
        if (wantsTable(req)) return sendJson(res, 200, toTable(rt, [obj], obj.metadata.resourceVersion ?? '', includeObjectOf(query)), TABLE_CONTENT_TYPE);
        return sendJson(res, 200, obj);
      }
      case 'PUT':
        return sendJson(res, 200, store.update(rt.plural, await readObject(req), namespace, name, writeOptions));
      case 'PATCH': {
        const type = patchTypeOf(req.headers['content-type']);
        if (!type) throw unsupportedMediaType(req.headers['content-type'] ?? '');
        return sendJson(res, 200, store.patch(rt.plural, namespace, name, type, parseJson(await readBody(req)), writeOptions));
      }
      case 'DELETE': {
        if (subresource) throw methodNotAllowed(`DELETE is not supported on ${rt.plural}/status`);
        const raw = await readBody(req);
        const preconditions: DeletePreconditions = {};
        const body = raw.toString('utf8').trim() === '' ? null : parseJson(raw);
        const pre = isJsonObject(body) ? body['preconditions'] : undefined;
        if (isJsonObject(pre)) {
          if (typeof pre['uid'] === 'string') preconditions.uid = pre['uid'];
          if (typeof pre['resourceVersion'] === 'string') preconditions.resourceVersion = pre['resourceVersion'];
        }
        return sendJson(res, 200, store.delete(rt.plural, namespace, name, preconditions));
      }
      default:
        throw methodNotAllowed(`${method} is not supported on ${rt.plural}${subresource ? '/status' : ''} (supported: GET, PUT, PATCH${subresource ? '' : ', DELETE'})`);
    }
  }

  /** Body of a POST or PUT: JSON, or the protobuf kubectl's typed clients send for a few core kinds. */
  async function readObject(req: IncomingMessage): Promise<JsonValue> {
    const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]?.trim();
    if (type === PROTOBUF_CONTENT_TYPE) return decodeProtobufObject(await readBody(req)) as unknown as JsonValue;
    if (type !== 'application/json' && type !== '*/*') throw unsupportedMediaType(req.headers['content-type'] ?? '');
    return parseJson(await readBody(req));
  }

  /** Discovery, OpenAPI and health endpoints; false when the path is not one of them. */
  function handleStatic(res: ServerResponse, segments: string[]): boolean {
    const path = segments.join('/');
    const doc =
      path === 'version' ? versionInfo()
      : path === 'api' ? coreApiVersions(serverAddress)
      : path === 'apis' ? apiGroupList()
      : path === 'openapi/v3' ? openApiV3Root()
      : segments[0] === 'api' && segments.length === 2 ? apiResourceList('', segments[1] ?? '')
      : segments[0] === 'apis' && segments.length === 2 ? apiGroup(segments[1] ?? '')
      : segments[0] === 'apis' && segments.length === 3 ? apiResourceList(segments[1] ?? '', segments[2] ?? '')
      : segments[0] === 'openapi' && segments[1] === 'v3' && segments[2] === 'api' && segments.length === 4 ? openApiV3GroupVersion('', segments[3] ?? '')
      : segments[0] === 'openapi' && segments[1] === 'v3' && segments[2] === 'apis' && segments.length === 5 ? openApiV3GroupVersion(segments[3] ?? '', segments[4] ?? '')
      : undefined;
    if (doc !== undefined) {
      sendJson(res, 200, doc);
      return true;
    }
    if (path === 'healthz' || path === 'livez' || path === 'readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return true;
    }
    return false;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://apiserver.invalid');
    const segments = url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
    if (requireToken && req.headers.authorization !== `Bearer ${token}`) throw unauthorized();
    const route = parseResourcePath(segments);
    if (route) return handleResource(req, res, route, url.searchParams);
    if (req.method === 'GET' && handleStatic(res, segments)) return;
    throw pathNotFound(url.pathname);
  }

  function dispatch(req: IncomingMessage, res: ServerResponse): void {
    if (store.paused === 'hang') {
      held.push(() => dispatch(req, res));
      return;
    }
    serve(req, res);
  }

  function serve(req: IncomingMessage, res: ServerResponse): void {
    res.on('finish', () => log(`${req.method ?? '?'} ${req.url ?? ''} ${res.statusCode}`));
    handle(req, res).catch((err: unknown) => {
      const apiError = err instanceof ApiError ? err : internalError(err instanceof Error ? err.message : String(err));
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, apiError.code, apiError.status);
    });
  }

  /** Fault injection for the harness (side door only); false when the path is not a control path. */
  function handleControl(req: IncomingMessage, res: ServerResponse): boolean {
    const m = /^\/loom-test\/([a-z-]+)$/.exec(req.url ?? '');
    if (!m) return false;
    const actions: Record<string, () => void> = {
      'pause-refuse': () => store.pause('refuse'),
      'pause-hang': () => store.pause('hang'),
      resume: () => store.resume(),
      'compact-history': () => store.compactHistory(),
      'close-watches': () => store.closeWatches(),
    };
    const action = actions[m[1] ?? ''];
    if (req.method !== 'POST' || !action) {
      sendJson(res, 404, { error: `unknown control request ${req.method ?? ''} ${req.url ?? ''}; use POST /loom-test/{${Object.keys(actions).join(',')}}` });
      return true;
    }
    action();
    sendJson(res, 200, { ok: true, paused: store.paused ?? null, resourceVersion: store.currentResourceVersion() });
    return true;
  }

  let sideDoor: Server | undefined;
  if (options.unixSocketPath !== undefined) {
    const path = options.unixSocketPath;
    sideDoor = createHttpServer((req, res) => {
      if (!handleControl(req, res)) serve(req, res);
    });
    await rm(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      sideDoor!.once('error', reject);
      sideDoor!.listen(path, () => {
        sideDoor!.off('error', reject);
        resolve();
      });
    });
  }

  const server = createServer({ key: tls.key, cert: tls.cert }, dispatch);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('secureConnection', (socket: Socket) => {
    if (store.paused === 'refuse') socket.destroy();
  });
  store.on('pause', (mode: PauseMode) => {
    for (const end of [...watchEnds]) end();
    if (mode === 'refuse') for (const s of sockets) s.destroy();
  });
  store.on('resume', () => {
    for (const run of held.splice(0)) run();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('test API server: could not read the listening address');
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  serverAddress = `${urlHost}:${address.port}`;
  const url = `https://${serverAddress}`;
  const kubeconfigPath = await writeKubeconfig(options.kubeconfigPath ?? join(workDir, 'kubeconfig'), { server: url, token });

  let stopped = false;
  const result: ApiServer = {
    url, host, port: address.port, kubeconfigPath, token, store,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      held.splice(0);
      for (const end of [...watchEnds]) end();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
      if (sideDoor) {
        sideDoor.closeAllConnections();
        await new Promise<void>((resolve) => sideDoor!.close(() => resolve()));
      }
      await rm(workDir, { recursive: true, force: true });
    },
  };
  if (options.unixSocketPath !== undefined) result.unixSocketPath = options.unixSocketPath;
  return result;
}
