// /version, legacy discovery (/api, /apis, /api/v1, /apis/networking.k8s.io/v1) and a minimal OpenAPI v3
// document: enough for kubectl to map kinds to resources and to see that PATCH supports `fieldValidation`.
import type { ResourceType } from './resources.js';
import { RESOURCE_TYPES, RESOURCE_VERBS, STATUS_VERBS } from './resources.js';
import type { JsonObject } from './types.js';

export const SERVER_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-loom-test-apiserver' };

export function versionInfo(): JsonObject {
  return {
    ...SERVER_VERSION,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z',
    goVersion: 'none (TypeScript test double)',
    compiler: 'tsx',
    platform: 'linux/amd64',
  };
}

export function coreApiVersions(serverAddress: string): JsonObject {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groups(): string[] {
  return [...new Set(RESOURCE_TYPES.map((r) => r.group).filter((g) => g !== ''))];
}

export function apiGroupList(): JsonObject {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups().map((name) => {
      const version = { groupVersion: `${name}/v1`, version: 'v1' };
      return { name, versions: [version], preferredVersion: version };
    }),
  };
}

export function apiGroup(name: string): JsonObject | undefined {
  if (!groups().includes(name)) return undefined;
  const version = { groupVersion: `${name}/v1`, version: 'v1' };
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions: [version], preferredVersion: version };
}

/** APIResourceList for one group version, or undefined if we serve no such group version. */
export function apiResourceList(group: string, version: string): JsonObject | undefined {
  const types = RESOURCE_TYPES.filter((r) => r.group === group && r.version === version);
  if (types.length === 0) return undefined;
  const resources: JsonObject[] = [];
  for (const rt of types) {
    resources.push({
      name: rt.plural, singularName: rt.singular, namespaced: rt.namespaced, kind: rt.kind,
      verbs: [...RESOURCE_VERBS], shortNames: rt.shortNames, ...(rt.plural === 'pods' ? { categories: ['all'] } : {}),
    });
    if (rt.hasStatus) {
      resources.push({ name: `${rt.plural}/status`, singularName: '', namespaced: rt.namespaced, kind: rt.kind, verbs: [...STATUS_VERBS] });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}

/** Path prefix of a group version: "api/v1" or "apis/networking.k8s.io/v1". */
function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

export function openApiV3Root(): JsonObject {
  const paths: JsonObject = {};
  for (const rt of RESOURCE_TYPES) {
    const p = gvPath(rt.group, rt.version);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=loom-test` };
  }
  return { paths };
}

function gvk(rt: ResourceType): JsonObject {
  return { group: rt.group, version: rt.version, kind: rt.kind };
}

const FIELD_VALIDATION: JsonObject = {
  name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true },
  description: 'Ignore, Warn or Strict: how the server treats unknown or duplicate fields.',
};

/**
 * OpenAPI v3 document for a group version: one path per resource item with the PATCH operation
 * declaring `fieldValidation` and the GVK (what kubectl's query-parameter verifier looks for).
 * No schemas: kubectl then computes apply patches from its compiled-in types.
 */
export function openApiV3GroupVersion(group: string, version: string): JsonObject | undefined {
  const types = RESOURCE_TYPES.filter((r) => r.group === group && r.version === version);
  if (types.length === 0) return undefined;
  const paths: JsonObject = {};
  for (const rt of types) {
    const base = rt.namespaced ? `/${gvPath(group, version)}/namespaces/{namespace}/${rt.plural}` : `/${gvPath(group, version)}/${rt.plural}`;
    const operation = (action: string): JsonObject => ({
      operationId: `${action}${rt.kind}`,
      parameters: [FIELD_VALIDATION],
      responses: { '200': { description: 'OK' } },
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk(rt),
    });
    paths[base] = { post: operation('post') };
    paths[`${base}/{name}`] = { patch: operation('patch') };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes (Loom test API server)', version: SERVER_VERSION.gitVersion },
    paths,
    components: { schemas: {} },
  };
}
