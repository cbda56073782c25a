// Connectivity truth tables (rows: from, columns: to) and their readable rendering.
import type { Protocol } from './agnhost.js';

export interface PortProtocol {
  port: number;
  protocol: Protocol;
}

export interface TruthTable {
  target: PortProtocol;
  /** pod labels `namespace/name`, same order for rows and columns */
  pods: string[];
  /** allowed[i][j]: pods[i] reached pods[j] on target */
  allowed: boolean[][];
}

export function cell(t: TruthTable, from: string, to: string): boolean {
  const i = t.pods.indexOf(from);
  const j = t.pods.indexOf(to);
  if (i < 0 || j < 0) throw new Error(`pod ${i < 0 ? from : to} is not in the truth table (pods: ${t.pods.join(', ')})`);
  return t.allowed[i]![j]!;
}

/** Builds a table from a predicate, e.g. the expected result of a policy case. */
export function expectedTable(target: PortProtocol, pods: string[], allow: (from: string, to: string) => boolean): TruthTable {
  return { target, pods, allowed: pods.map((f) => pods.map((t) => allow(f, t))) };
}

/** Pairs where two tables of the same pods differ: `from -> to: before => after`. */
export function differences(before: TruthTable, after: TruthTable): Array<{ from: string; to: string; before: boolean; after: boolean }> {
  const out: Array<{ from: string; to: string; before: boolean; after: boolean }> = [];
  after.pods.forEach((from, i) => after.pods.forEach((to, j) => {
    const b = before.pods.includes(from) && before.pods.includes(to) ? cell(before, from, to) : false;
    const a = after.allowed[i]![j]!;
    if (a !== b) out.push({ from, to, before: b, after: a });
  }));
  return out;
}

/**
 * Rows "from", columns "to": `.` reached, `X` blocked; with `compareTo`, changed cells are marked
 * `x` (newly blocked) or `+` (newly reached). Columns are numbered; the legend names them.
 */
export function formatMatrix(t: TruthTable, compareTo?: TruthTable): string {
  const width = Math.max(4, ...t.pods.map((p) => p.length));
  const header = `${t.target.protocol}/${t.target.port}`.padEnd(width) + '  ' + t.pods.map((_, j) => String(j + 1).padStart(3)).join('');
  const lines = [header];
  t.pods.forEach((from, i) => {
    const cells = t.pods.map((to, j) => {
      const now = t.allowed[i]![j]!;
      if (compareTo && compareTo.pods.includes(from) && compareTo.pods.includes(to) && cell(compareTo, from, to) !== now) return now ? '+' : 'x';
      return now ? '.' : 'X';
    });
    lines.push(`${from.padEnd(width)}  ${cells.map((c) => c.padStart(3)).join('')}   (${i + 1})`);
  });
  lines.push(compareTo ? 'legend: . reached, X blocked, + newly reached, x newly blocked; row = from, column = to' : 'legend: . reached, X blocked; row = from, column = to');
  return lines.join('\n');
}
