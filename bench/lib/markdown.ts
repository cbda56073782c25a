// BENCHMARKS.md from benchmark results: a summary table, then one section per benchmark with its
// figures, targets, pass/fail, command, date, load average, notes and charts.
import type { KnownBenchmark } from './catalogue.js';
import type { BenchResult, Metric, Target } from './result.js';

export interface ChartLink {
  /** Result the chart belongs to */
  result: string;
  title: string;
  /** Path relative to BENCHMARKS.md */
  path: string;
}

export interface ReportInput {
  results: BenchResult[];
  known: KnownBenchmark[];
  charts: ChartLink[];
  /** ISO date of generation */
  generated: string;
  /** Result files that could not be read, with the reason */
  unreadable?: Array<{ file: string; reason: string }>;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const num = (x: number) => (Number.isInteger(x) ? String(x) : String(Math.round(x * 100) / 100));
const withUnit = (x: number, unit: string) => (unit === 'ratio' ? `${num(x)}x` : unit === 'count' || unit === '' ? num(x) : `${num(x)} ${unit}`);

export function formatTarget(t: Target | undefined, unit: string): string {
  if (!t) return '';
  const parts: string[] = [];
  if (t.min !== undefined) parts.push(`>= ${withUnit(t.min, unit)}`);
  if (t.max !== undefined) parts.push(`<= ${withUnit(t.max, unit)}`);
  return parts.join(', ');
}

function verdict(m: Metric): string {
  if (m.pass === undefined) return '';
  return m.pass ? 'pass' : '**FAIL**';
}

const load = (l: number[] | undefined) => (l && l.length ? l.map(num).join(' / ') : '?');

function orderResults(input: ReportInput): Array<{ name: string; known?: KnownBenchmark; result?: BenchResult }> {
  const byName = new Map(input.results.map((r) => [r.name, r]));
  const rows: Array<{ name: string; known?: KnownBenchmark; result?: BenchResult }> = input.known.map((k) => {
    const r = byName.get(k.name);
    return r ? { name: k.name, known: k, result: r } : { name: k.name, known: k };
  });
  const knownNames = new Set(input.known.map((k) => k.name));
  for (const r of [...input.results].sort((a, b) => a.name.localeCompare(b.name))) if (!knownNames.has(r.name)) rows.push({ name: r.name, result: r });
  return rows;
}

export function renderMarkdown(input: ReportInput): string {
  const out: string[] = [
    '# Loom benchmarks',
    '',
    `Generated ${input.generated} by \`node --import tsx bench/report.ts\` from \`bench/results/*.json\`. ` +
      'Run every benchmark and regenerate this file with `npm run bench` (root; after `npm run build`).',
    '',
    'The machine is a shared, noisy 2-core VM: absolute figures move with its load (shown per run), so compare the ratios measured in the same run. ' +
      'How each benchmark works: [docs/benchmarks.md](docs/benchmarks.md).',
    '',
    '## Summary',
    '',
    '| benchmark | date | load average at start (1/5/15 min) | targets met | command |',
    '|---|---|---|---|---|',
  ];
  const rows = orderResults(input);
  for (const row of rows) {
    const r = row.result;
    if (!r) {
      out.push(`| ${row.name} | not run | | | \`${cell(row.known?.command ?? '')}\` |`);
      continue;
    }
    const judged = r.metrics.filter((m) => m.pass !== undefined);
    const met = judged.filter((m) => m.pass).length;
    const targets = judged.length ? `${met} of ${judged.length}${met < judged.length ? ' (**FAIL**)' : ''}` : 'no targets';
    out.push(`| [${row.name}](#${row.name}) | ${r.date.slice(0, 16).replace('T', ' ')} UTC | ${load(r.machine.load)} | ${targets} | \`${cell(r.command)}\` |`);
  }
  for (const u of input.unreadable ?? []) out.push(`| ${cell(u.file)} | unreadable: ${cell(u.reason)} | | | |`);

  for (const row of rows) {
    const r = row.result;
    if (!r) continue;
    out.push('', `<a id="${row.name}"></a>`, `## ${row.name}${row.known ? `: ${row.known.title}` : ''}`, '');
    out.push(`- Command: \`${r.command}\``);
    out.push(`- Date: ${r.date}`);
    out.push(`- Machine: ${r.machine.cpus} CPUs, load average ${load(r.machine.load)} at start${r.machine.loadEnd ? `, ${load(r.machine.loadEnd)} at end` : ''}`);
    out.push('', '| metric | value | target | result |', '|---|---|---|---|');
    for (const m of r.metrics) {
      const name = m.note ? `${m.name} <br><sub>${cell(m.note)}</sub>` : m.name;
      out.push(`| ${cell(name)} | ${withUnit(m.value, m.unit)} | ${formatTarget(m.target, m.unit)} | ${verdict(m)} |`);
    }
    if (r.notes?.length) out.push('', ...r.notes.map((x) => `- ${x}`));
    const charts = input.charts.filter((c) => c.result === r.name);
    if (charts.length) out.push('', ...charts.map((c) => `![${c.title}](${c.path})`));
  }
  out.push('');
  return out.join('\n');
}
