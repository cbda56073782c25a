// meta.k8s.io/v1 Table responses, so `kubectl get` prints real columns (NAME, AGE, pod IP and NODE with -o wide).
import type { ResourceType } from './resources.js';
import type { JsonValue, KubeObject } from './types.js';
import { isJsonObject } from './types.js';

export interface ColumnDefinition {
  name: string;
  type: 'string' | 'integer';
  format: string;
  description: string;
  priority: number;
}

export interface TableRow {
  cells: (string | number)[];
  object?: JsonValue;
}

export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion: string };
  columnDefinitions: ColumnDefinition[];
  rows: TableRow[];
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

const column = (name: string, priority = 0, type: ColumnDefinition['type'] = 'string', format = ''): ColumnDefinition =>
  ({ name, type, format, description: name, priority });

/** Kubernetes' short human duration: 45s, 3m20s, 5h, 2d3h, ... */
export function humanAge(creationTimestamp: string | undefined, nowMs = Date.now()): string {
  if (!creationTimestamp) return '<unknown>';
  const seconds = Math.floor((nowMs - Date.parse(creationTimestamp)) / 1000);
  if (Number.isNaN(seconds)) return '<unknown>';
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  return days < 365 * 8 && days % 365 !== 0 ? `${years}y${days % 365}d` : `${years}y`;
}

const obj = (v: JsonValue | undefined): Record<string, JsonValue> => (isJsonObject(v) ? v : {});
const arr = (v: JsonValue | undefined): JsonValue[] => (Array.isArray(v) ? v : []);
const str = (v: JsonValue | undefined, fallback = '<none>'): string => (typeof v === 'string' && v !== '' ? v : fallback);

function podCells(pod: KubeObject): (string | number)[] {
  const spec = obj(pod['spec'] as JsonValue);
  const status = obj(pod['status'] as JsonValue);
  const statuses = arr(status['containerStatuses']).map(obj);
  const ready = statuses.filter((s) => s['ready'] === true).length;
  const restarts = statuses.reduce((sum, s) => sum + (typeof s['restartCount'] === 'number' ? s['restartCount'] : 0), 0);
  const phase = pod.metadata.deletionTimestamp ? 'Terminating' : str(status['reason'], str(status['phase'], 'Unknown'));
  return [`${ready}/${arr(spec['containers']).length}`, phase, restarts, humanAge(pod.metadata.creationTimestamp),
    str(status['podIP']), str(spec['nodeName'])];
}

function nodeCells(node: KubeObject): (string | number)[] {
  const status = obj(node['status'] as JsonValue);
  const readyCondition = arr(status['conditions']).map(obj).find((c) => c['type'] === 'Ready');
  const ready = readyCondition === undefined ? 'Unknown' : readyCondition['status'] === 'True' ? 'Ready' : 'NotReady';
  const roles = Object.keys(node.metadata.labels ?? {})
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length))
    .join(',');
  const internalIp = arr(status['addresses']).map(obj).find((a) => a['type'] === 'InternalIP');
  return [ready, roles || '<none>', humanAge(node.metadata.creationTimestamp),
    str(obj(status['nodeInfo'])['kubeletVersion'], ''), str(internalIp?.['address'])];
}

/** metav1.FormatLabelSelector. */
export function formatLabelSelector(selector: JsonValue | undefined): string {
  const s = obj(selector);
  const parts = Object.entries(obj(s['matchLabels'])).map(([k, v]) => `${k}=${String(v)}`);
  for (const e of arr(s['matchExpressions']).map(obj)) {
    const values = arr(e['values']).map(String).join(',');
    const key = String(e['key']);
    switch (e['operator']) {
      case 'In': parts.push(`${key} in (${values})`); break;
      case 'NotIn': parts.push(`${key} notin (${values})`); break;
      case 'Exists': parts.push(key); break;
      case 'DoesNotExist': parts.push(`!${key}`); break;
    }
  }
  return parts.length > 0 ? parts.join(',') : '<none>';
}

interface TableLayout {
  columns: ColumnDefinition[];
  cells(o: KubeObject): (string | number)[];
}

const LAYOUTS: Record<string, TableLayout> = {
  pods: {
    columns: [column('Ready'), column('Status'), column('Restarts', 0, 'integer'), column('Age'), column('IP', 1), column('Node', 1)],
    cells: podCells,
  },
  nodes: {
    columns: [column('Status'), column('Roles'), column('Age'), column('Version'), column('Internal-IP', 1)],
    cells: nodeCells,
  },
  namespaces: {
    columns: [column('Status'), column('Age')],
    cells: (ns) => [str(obj(ns['status'] as JsonValue)['phase'], 'Active'), humanAge(ns.metadata.creationTimestamp)],
  },
  networkpolicies: {
    columns: [column('Pod-Selector'), column('Age')],
    cells: (np) => [formatLabelSelector(obj(np['spec'] as JsonValue)['podSelector']), humanAge(np.metadata.creationTimestamp)],
  },
};

export function toTable(rt: ResourceType, items: KubeObject[], resourceVersion: string, include: IncludeObject): Table {
  const layout = LAYOUTS[rt.plural];
  if (!layout) throw new Error(`no table layout for ${rt.plural}`);
  const rows = items.map((item): TableRow => {
    const row: TableRow = { cells: [item.metadata.name ?? '', ...layout.cells(item)] };
    if (include === 'Object') row.object = item as unknown as JsonValue;
    if (include === 'Metadata') row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: item.metadata as JsonValue };
    return row;
  });
  const nameColumn: ColumnDefinition = { ...column('Name'), format: 'name' };
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion }, columnDefinitions: [nameColumn, ...layout.columns], rows };
}
