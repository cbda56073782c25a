// Kubernetes-style API errors: each carries the HTTP code and the JSON Status body the real server sends.
import type { ResourceType } from './resources.js';
import type { Status, StatusCause } from './types.js';

export class ApiError extends Error {
  constructor(readonly status: Status) {
    super(status.message);
    this.name = 'ApiError';
  }
  get code(): number {
    return this.status.code;
  }
}

function failure(code: number, reason: string, message: string, details?: Status['details']): ApiError {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) status.details = details;
  return new ApiError(status);
}

/** "pods" or "networkpolicies.networking.k8s.io", as Kubernetes names a resource in messages. */
function qualifiedResource(rt: ResourceType): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

function details(rt: ResourceType, name: string): NonNullable<Status['details']> {
  return rt.group ? { name, group: rt.group, kind: rt.plural } : { name, kind: rt.plural };
}

export function notFound(rt: ResourceType, name: string): ApiError {
  return failure(404, 'NotFound', `${qualifiedResource(rt)} "${name}" not found`, details(rt, name));
}

export function alreadyExists(rt: ResourceType, name: string): ApiError {
  return failure(409, 'AlreadyExists', `${qualifiedResource(rt)} "${name}" already exists`, details(rt, name));
}

export function conflict(rt: ResourceType, name: string, why: string): ApiError {
  return failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(rt)} "${name}": ${why}`, details(rt, name));
}

export const STALE_OBJECT =
  'the object has been modified; please apply your changes to the latest version and try again';

export interface FieldError {
  field: string;
  reason: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueNotSupported' | 'FieldValueForbidden' | 'FieldValueDuplicate';
  /** Message without the field path, e.g. `Invalid value: "x": must be a valid CIDR`. */
  message: string;
}

export function invalid(rt: ResourceType, name: string, errors: FieldError[]): ApiError {
  const parts = errors.map((e) => `${e.field}: ${e.message}`);
  const summary = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  const kind = rt.group ? `${rt.kind}.${rt.group}` : rt.kind;
  const causes: StatusCause[] = errors.map((e) => ({ reason: e.reason, message: e.message, field: e.field }));
  const d: NonNullable<Status['details']> = { name, kind: rt.kind, causes };
  if (rt.group) d.group = rt.group;
  return failure(422, 'Invalid', `${kind} "${name}" is invalid: ${summary}`, d);
}

export function badRequest(message: string): ApiError {
  return failure(400, 'BadRequest', message);
}

export function methodNotAllowed(message: string): ApiError {
  return failure(405, 'MethodNotAllowed', message);
}

export function unsupportedMediaType(contentType: string): ApiError {
  return failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/strategic-merge-patch+json, application/json-patch+json (got "${contentType}")`);
}

export function gone(requested: number, oldest: number): ApiError {
  return failure(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

export function unauthorized(): ApiError {
  return failure(401, 'Unauthorized', 'Unauthorized');
}

export function pathNotFound(path: string): ApiError {
  return failure(404, 'NotFound', `the server could not find the requested resource (${path})`, {});
}

export function internalError(message: string): ApiError {
  return failure(500, 'InternalError', `Internal error occurred: ${message}`);
}
