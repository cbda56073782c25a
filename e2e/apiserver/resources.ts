// The four resource types the test API server serves, with what discovery, routing and field selectors need.
import type { KubeObject, JsonValue } from './types.js';
import { isJsonObject } from './types.js';

export type ResourceName = 'namespaces' | 'nodes' | 'pods' | 'networkpolicies';

export interface ResourceType {
  plural: ResourceName;
  singular: string;
  kind: string;
  listKind: string;
  /** '' for the core group. */
  group: string;
  version: string;
  apiVersion: string;
  namespaced: boolean;
  shortNames: string[];
  hasStatus: boolean;
  /** metadata.generation is set on create and bumped on spec changes. */
  hasGeneration: boolean;
  /** Fields usable in a field selector besides metadata.name (and metadata.namespace when namespaced). */
  selectableFields: string[];
}

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
export const RESOURCE_VERBS: readonly string[] = VERBS;
export const STATUS_VERBS: readonly string[] = ['get', 'patch', 'update'];

export const RESOURCE_TYPES: readonly ResourceType[] = [
  {
    plural: 'namespaces', singular: 'namespace', kind: 'Namespace', listKind: 'NamespaceList',
    group: '', version: 'v1', apiVersion: 'v1', namespaced: false, shortNames: ['ns'], hasStatus: true, hasGeneration: false,
    selectableFields: ['status.phase'],
  },
  {
    plural: 'nodes', singular: 'node', kind: 'Node', listKind: 'NodeList',
    group: '', version: 'v1', apiVersion: 'v1', namespaced: false, shortNames: ['no'], hasStatus: true, hasGeneration: false,
    selectableFields: ['spec.unschedulable'],
  },
  {
    plural: 'pods', singular: 'pod', kind: 'Pod', listKind: 'PodList',
    group: '', version: 'v1', apiVersion: 'v1', namespaced: true, shortNames: ['po'], hasStatus: true, hasGeneration: true,
    selectableFields: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName',
      'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
  },
  {
    plural: 'networkpolicies', singular: 'networkpolicy', kind: 'NetworkPolicy', listKind: 'NetworkPolicyList',
    group: 'networking.k8s.io', version: 'v1', apiVersion: 'networking.k8s.io/v1', namespaced: true,
    shortNames: ['netpol'], hasStatus: false, hasGeneration: true, selectableFields: [],
  },
];

export function resourceType(plural: ResourceName): ResourceType {
  const rt = RESOURCE_TYPES.find((r) => r.plural === plural);
  if (!rt) throw new Error(`unknown resource ${plural}: expected one of ${RESOURCE_TYPES.map((r) => r.plural).join(', ')}`);
  return rt;
}

/** Resource served at /api/v1/<plural> or /apis/<group>/<version>/<plural>. */
export function findResourceType(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** Value of a dotted field path as the string a field selector compares with, or undefined if unset. */
export function fieldValue(obj: KubeObject, path: string): string | undefined {
  let cur: JsonValue | undefined = obj as unknown as JsonValue;
  for (const part of path.split('.')) {
    if (!isJsonObject(cur)) return undefined;
    cur = cur[part];
  }
  if (cur === undefined || cur === null) return undefined;
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}
