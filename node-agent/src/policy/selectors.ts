// Kubernetes label selectors (metav1.LabelSelector) as predicates over label maps.
import type { Labels, V1LabelSelector } from './types.js';

export class SelectorError extends Error {}

export type LabelPredicate = (labels: Labels) => boolean;

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/**
 * Compile a selector to a predicate. An empty selector ({}) selects everything. Throws SelectorError
 * for what the API server would have rejected (unknown operator, In/NotIn without values, values
 * given to Exists/DoesNotExist), so a broken policy is reported instead of silently widened.
 */
export function compileSelector(sel: V1LabelSelector): LabelPredicate {
  const checks: LabelPredicate[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) {
    checks.push((l) => l[key] === value);
  }
  for (const req of sel.matchExpressions ?? []) {
    const { key, operator } = req;
    const values = req.values ?? [];
    if (typeof key !== 'string' || key === '') throw new SelectorError('matchExpressions entry has no key');
    if (!OPERATORS.has(operator)) {
      throw new SelectorError(`matchExpressions key "${key}": unknown operator "${operator}" (use In, NotIn, Exists or DoesNotExist)`);
    }
    if ((operator === 'In' || operator === 'NotIn') && values.length === 0) {
      throw new SelectorError(`matchExpressions key "${key}": operator ${operator} needs at least one value`);
    }
    if ((operator === 'Exists' || operator === 'DoesNotExist') && values.length > 0) {
      throw new SelectorError(`matchExpressions key "${key}": operator ${operator} takes no values`);
    }
    const set = new Set(values);
    const has = (l: Labels) => Object.prototype.hasOwnProperty.call(l, key);
    switch (operator) {
      case 'In':
        checks.push((l) => has(l) && set.has(l[key] as string));
        break;
      case 'NotIn':
        checks.push((l) => !has(l) || !set.has(l[key] as string));
        break;
      case 'Exists':
        checks.push(has);
        break;
      default:
        checks.push((l) => !has(l));
    }
  }
  if (checks.length === 0) return () => true;
  if (checks.length === 1) return checks[0] as LabelPredicate;
  return (l) => checks.every((c) => c(l));
}

/** Convenience: does the selector select these labels. */
export function selectorMatches(sel: V1LabelSelector, labels: Labels): boolean {
  return compileSelector(sel)(labels);
}

/** True for a selector with no requirement (selects everything). */
export function isEmptySelector(sel: V1LabelSelector): boolean {
  return Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}

/** Canonical text of a selector: equal selectors (whatever their key order) give equal keys. */
export function selectorKey(sel: V1LabelSelector): string {
  const labels = Object.entries(sel.matchLabels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  const exprs = (sel.matchExpressions ?? [])
    .map((e) => `${e.key} ${e.operator} (${[...(e.values ?? [])].sort().join(',')})`)
    .sort();
  return `${labels.join(',')};${exprs.join(';')}`;
}
