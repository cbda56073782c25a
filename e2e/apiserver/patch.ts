// The three patch formats kubectl and client libraries send: JSON merge patch (RFC 7386),
// a pragmatic strategic merge patch for our four kinds, and JSON patch (RFC 6902).
import { badRequest } from './errors.js';
import type { JsonObject, JsonValue } from './types.js';
import { deepCopy, isJsonObject } from './types.js';

export function mergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return deepCopy(patch);
  const result: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key] ?? null, value);
  }
  return result;
}

/**
 * Lists merged by key, by field path (list elements are not part of the path), as the Go types
 * declare with patchStrategy=merge and patchMergeKey. PRIMITIVE marks merged lists of scalars.
 */
const PRIMITIVE = '';
const MERGE_KEYS: Record<string, string> = {
  'metadata.ownerReferences': 'uid',
  'metadata.finalizers': PRIMITIVE,
  'spec.containers': 'name',
  'spec.initContainers': 'name',
  'spec.ephemeralContainers': 'name',
  'spec.volumes': 'name',
  'spec.imagePullSecrets': 'name',
  'spec.hostAliases': 'ip',
  'spec.resourceClaims': 'name',
  'spec.podCIDRs': PRIMITIVE,
  'spec.containers.ports': 'containerPort',
  'spec.containers.env': 'name',
  'spec.containers.volumeMounts': 'mountPath',
  'spec.containers.volumeDevices': 'devicePath',
  'spec.initContainers.ports': 'containerPort',
  'spec.initContainers.env': 'name',
  'spec.initContainers.volumeMounts': 'mountPath',
  'status.conditions': 'type',
  'status.podIPs': 'ip',
  'status.addresses': 'type',
};

const DIRECTIVE_PREFIXES = ['$setElementOrder/', '$deleteFromPrimitiveList/', '$retainKeys', '$patch'];

export function strategicMergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  return strategicMerge(target, patch, []);
}

function strategicMerge(target: JsonValue, patch: JsonValue, path: string[]): JsonValue {
  if (!isJsonObject(patch)) return deepCopy(patch);
  const directive = patch['$patch'];
  if (directive === 'replace') return stripDirectives(patch);
  if (directive === 'delete') return null;
  const result: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (DIRECTIVE_PREFIXES.some((p) => key.startsWith(p))) continue;
    const childPath = [...path, key];
    if (value === null) {
      delete result[key];
    } else if (Array.isArray(value)) {
      result[key] = mergeList(result[key], value, childPath);
    } else if (isJsonObject(value)) {
      const merged = strategicMerge(result[key] ?? null, value, childPath);
      if (merged === null) delete result[key];
      else result[key] = merged;
    } else {
      result[key] = value;
    }
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$deleteFromPrimitiveList/') && Array.isArray(value)) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const current = result[field];
      if (Array.isArray(current)) result[field] = current.filter((v) => !value.some((d) => JSON.stringify(d) === JSON.stringify(v)));
    }
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$setElementOrder/') && Array.isArray(value)) {
      const field = key.slice('$setElementOrder/'.length);
      const mergeKey = MERGE_KEYS[[...path, field].join('.')];
      const current = result[field];
      if (Array.isArray(current) && mergeKey !== undefined) result[field] = reorder(current, value, mergeKey);
    }
  }
  const retain = patch['$retainKeys'];
  if (Array.isArray(retain)) {
    for (const key of Object.keys(result)) if (!retain.includes(key)) delete result[key];
  }
  return result;
}

function stripDirectives(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isJsonObject(value)) return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) if (!DIRECTIVE_PREFIXES.some((p) => k.startsWith(p))) out[k] = stripDirectives(v);
  return out;
}

const same = (a: JsonValue | undefined, b: JsonValue | undefined): boolean => JSON.stringify(a) === JSON.stringify(b);

function mergeList(target: JsonValue | undefined, patch: JsonValue[], path: string[]): JsonValue {
  const mergeKey = MERGE_KEYS[path.join('.')];
  const replaceAll = patch.some((e) => isJsonObject(e) && e['$patch'] === 'replace');
  if (mergeKey === undefined || replaceAll) {
    return patch.filter((e) => !(isJsonObject(e) && e['$patch'] === 'replace')).map(stripDirectives);
  }
  const current = Array.isArray(target) ? [...target] : [];
  if (mergeKey === PRIMITIVE) {
    for (const v of patch) if (!current.some((c) => same(c, v))) current.push(v);
    return current;
  }
  for (const element of patch) {
    if (!isJsonObject(element)) throw badRequest(`strategic merge patch: element of ${path.join('.')} must be an object keyed by ${mergeKey}`);
    const key = element[mergeKey];
    const index = current.findIndex((c) => isJsonObject(c) && same(c[mergeKey], key));
    if (element['$patch'] === 'delete') {
      if (index >= 0) current.splice(index, 1);
    } else if (index >= 0) {
      current[index] = strategicMerge(current[index] ?? null, element, path);
    } else {
      current.push(stripDirectives(element));
    }
  }
  return current;
}

function reorder(list: JsonValue[], order: JsonValue[], mergeKey: string): JsonValue[] {
  const keyOf = (e: JsonValue | undefined): string => JSON.stringify(mergeKey === PRIMITIVE ? e : isJsonObject(e) ? e[mergeKey] : e);
  const rank = new Map(order.map((o, i) => [keyOf(o), i]));
  return [...list].sort((a, b) => (rank.get(keyOf(a)) ?? order.length) - (rank.get(keyOf(b)) ?? order.length));
}

interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: JsonValue;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`json patch: path "${pointer}" must start with "/"`);
  return pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getAt(doc: JsonValue, tokens: string[], pointer: string): JsonValue {
  let cur: JsonValue = doc;
  for (const t of tokens) {
    if (Array.isArray(cur) && /^\d+$/.test(t) && Number(t) < cur.length) cur = cur[Number(t)] ?? null;
    else if (isJsonObject(cur) && t in cur) cur = cur[t] ?? null;
    else throw badRequest(`json patch: path "${pointer}" does not exist`);
  }
  return cur;
}

/** Applies one operation in place on the parent container; doc itself is never replaced wholesale except at "". */
function applyOperation(doc: JsonValue, op: JsonPatchOperation): JsonValue {
  const tokens = parsePointer(op.path);
  if (op.op === 'test') {
    if (!same(getAt(doc, tokens, op.path), op.value ?? null)) throw badRequest(`json patch: test failed at "${op.path}"`);
    return doc;
  }
  if (op.op === 'move' || op.op === 'copy') {
    if (op.from === undefined) throw badRequest(`json patch: ${op.op} needs "from"`);
    const value = deepCopy(getAt(doc, parsePointer(op.from), op.from));
    const after = op.op === 'move' ? applyOperation(doc, { op: 'remove', path: op.from }) : doc;
    return applyOperation(after, { op: 'add', path: op.path, value });
  }
  if (tokens.length === 0) {
    if (op.op === 'remove') throw badRequest('json patch: cannot remove the whole document');
    return deepCopy(op.value ?? null);
  }
  const parent = getAt(doc, tokens.slice(0, -1), op.path);
  const last = tokens[tokens.length - 1] ?? '';
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    if (!Number.isInteger(index) || index < 0 || index > parent.length) throw badRequest(`json patch: bad array index in "${op.path}"`);
    if (op.op === 'add') parent.splice(index, 0, deepCopy(op.value ?? null));
    else if (index >= parent.length) throw badRequest(`json patch: path "${op.path}" does not exist`);
    else if (op.op === 'remove') parent.splice(index, 1);
    else parent[index] = deepCopy(op.value ?? null);
  } else if (isJsonObject(parent)) {
    if (op.op !== 'add' && !(last in parent)) throw badRequest(`json patch: path "${op.path}" does not exist`);
    if (op.op === 'remove') delete parent[last];
    else parent[last] = deepCopy(op.value ?? null);
  } else {
    throw badRequest(`json patch: parent of "${op.path}" is not an object or array`);
  }
  return doc;
}

export function jsonPatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!Array.isArray(patch)) throw badRequest('json patch: body must be a JSON array of operations');
  let doc = deepCopy(target);
  for (const raw of patch) {
    if (!isJsonObject(raw) || typeof raw['op'] !== 'string' || typeof raw['path'] !== 'string') {
      throw badRequest(`json patch: every operation needs "op" and "path": ${JSON.stringify(raw)}`);
    }
    const op = raw['op'];
    if (!['add', 'remove', 'replace', 'move', 'copy', 'test'].includes(op)) throw badRequest(`json patch: unknown op "${op}"`);
    const operation: JsonPatchOperation = { op: op as JsonPatchOperation['op'], path: raw['path'] };
    if (typeof raw['from'] === 'string') operation.from = raw['from'];
    if ('value' in raw) operation.value = raw['value'] ?? null;
    doc = applyOperation(doc, operation);
  }
  return doc;
}

export type PatchType = 'merge' | 'strategic' | 'json';

export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType === 'application/merge-patch+json') return 'merge';
  if (mediaType === 'application/strategic-merge-patch+json') return 'strategic';
  if (mediaType === 'application/json-patch+json') return 'json';
  return undefined;
}

export function applyPatch(type: PatchType, target: JsonValue, patch: JsonValue): JsonValue {
  switch (type) {
    case 'merge': return mergePatch(target, patch);
    case 'strategic': return strategicMergePatch(target, patch);
    case 'json': return jsonPatch(target, patch);
  }
}
