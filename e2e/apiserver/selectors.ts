// Label and field selectors in their query-string form (labelSelector=..., fieldSelector=...).
import { badRequest } from './errors.js';
import type { ResourceType } from './resources.js';
import { fieldValue } from './resources.js';
import type { KubeObject } from './types.js';

export type LabelOperator = 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

export type LabelSelector = LabelRequirement[];

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function checkKey(key: string, text: string): string {
  if (!KEY.test(key) || key.length > 316) throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${text}"`);
  return key;
}

function checkValue(value: string, text: string): string {
  if (!VALUE.test(value) || value.length > 63) throw badRequest(`unable to parse requirement: invalid label value "${value}" in selector "${text}"`);
  return value;
}

/** Split on commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

export function parseLabelSelector(text: string | null | undefined): LabelSelector {
  if (!text || text.trim() === '') return [];
  return splitTopLevel(text).map((part) => parseRequirement(part, text));
}

function parseRequirement(part: string, text: string): LabelRequirement {
  if (part === '') throw badRequest(`unable to parse requirement: found '', expected: identifier in selector "${text}"`);
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
  if (set) {
    const values = (set[3] ?? '').split(',').map((v) => checkValue(v.trim(), text));
    return { key: checkKey(set[1] ?? '', text), operator: set[2] as 'in' | 'notin', values };
  }
  if (part.startsWith('!')) return { key: checkKey(part.slice(1).trim(), text), operator: '!', values: [] };
  const op = /^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$/.exec(part);
  if (op) {
    const key = checkKey(op[1] ?? '', text);
    const value = (op[3] ?? '').trim();
    switch (op[2]) {
      case '!=':
        return { key, operator: '!=', values: [checkValue(value, text)] };
      case '>':
      case '<':
        if (!/^-?\d+$/.test(value)) throw badRequest(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer in selector "${text}"`);
        return { key, operator: op[2] === '>' ? 'gt' : 'lt', values: [value] };
      default:
        return { key, operator: '=', values: [checkValue(value, text)] };
    }
  }
  return { key: checkKey(part, text), operator: 'exists', values: [] };
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.operator) {
      case 'exists': return has;
      case '!': return !has;
      case '=': case 'in': return has && r.values.includes(v ?? '');
      case '!=': case 'notin': return !has || !r.values.includes(v ?? '');
      case 'gt': return has && /^-?\d+$/.test(v ?? '') && Number(v) > Number(r.values[0]);
      case 'lt': return has && /^-?\d+$/.test(v ?? '') && Number(v) < Number(r.values[0]);
    }
  });
}

export interface FieldRequirement {
  field: string;
  equals: boolean;
  value: string;
}

export type FieldSelector = FieldRequirement[];

const BOOLEAN_FIELDS = new Set(['spec.hostNetwork', 'spec.unschedulable']);

export function parseFieldSelector(text: string | null | undefined, rt: ResourceType): FieldSelector {
  if (!text || text.trim() === '') return [];
  const allowed = new Set(['metadata.name', ...(rt.namespaced ? ['metadata.namespace'] : []), ...rt.selectableFields]);
  return text.split(',').map((part) => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    const field = m[1] ?? '';
    if (!allowed.has(field)) {
      throw badRequest(`field label not supported: ${field} (${rt.kind} supports ${[...allowed].join(', ')})`);
    }
    return { field, equals: m[2] !== '!=', value: m[3] ?? '' };
  });
}

export function matchesFields(selector: FieldSelector, obj: KubeObject): boolean {
  return selector.every((r) => {
    const actual = fieldValue(obj, r.field) ?? (BOOLEAN_FIELDS.has(r.field) ? 'false' : '');
    return (actual === r.value) === r.equals;
  });
}

/** Both selectors of a list or watch request. */
export interface ObjectFilter {
  namespace?: string;
  labels: LabelSelector;
  fields: FieldSelector;
}

export function matchesFilter(filter: ObjectFilter, obj: KubeObject): boolean {
  if (filter.namespace !== undefined && obj.metadata.namespace !== filter.namespace) return false;
  return matchesLabels(filter.labels, obj.metadata.labels) && matchesFields(filter.fields, obj);
}
