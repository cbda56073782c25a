// Reads bench/results/*.json (the format in bench/lib/result.ts), writes BENCHMARKS.md at the
// repository root and the SVG charts under bench/charts/ (other .svg files there are removed).
//   node --import tsx bench/report.ts [--results DIR] [--out FILE] [--charts DIR]
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KNOWN_BENCHMARKS, type KnownBenchmark } from './lib/catalogue.js';
import { renderMarkdown, type ChartLink } from './lib/markdown.js';
import { BENCH_DIR, parseResult, RESULTS_DIR, type BenchResult, type ChartSpec } from './lib/result.js';
import { barChart, cdfChart, lineChart } from './lib/svg-chart.js';

export interface ReportOptions {
  resultsDir: string;
  outFile: string;
  chartsDir: string;
  known?: KnownBenchmark[];
  /** Defaults to now */
  generated?: string;
}

export interface ReportOutput {
  markdown: string;
  /** Absolute paths of the SVG files written */
  chartFiles: string[];
  results: BenchResult[];
}

export function renderChart(r: BenchResult, c: ChartSpec): string {
  if (c.kind === 'bar') {
    const bars = c.metrics.map((name) => {
      const m = r.metrics.find((x) => x.name === name);
      return { label: name, value: m?.value ?? 0 };
    });
    return barChart(c.title, c.unit, bars);
  }
  const sets = c.series.map((key) => ({ label: key.replace(/\.ms$/, ''), values: r.series?.[key] ?? [] }));
  return c.kind === 'cdf' ? cdfChart(c.title, c.unit, sets) : lineChart(c.title, c.unit, sets);
}

export async function readResults(dir: string): Promise<{ results: BenchResult[]; unreadable: Array<{ file: string; reason: string }> }> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
  const results: BenchResult[] = [];
  const unreadable: Array<{ file: string; reason: string }> = [];
  for (const f of files) {
    try {
      results.push(parseResult(JSON.parse(await readFile(join(dir, f), 'utf8')), f));
    } catch (err) {
      unreadable.push({ file: f, reason: (err as Error).message });
    }
  }
  return { results, unreadable };
}

export async function generateReport(o: ReportOptions): Promise<ReportOutput> {
  const { results, unreadable } = await readResults(o.resultsDir);
  await mkdir(o.chartsDir, { recursive: true });
  const charts: ChartLink[] = [];
  const chartFiles: string[] = [];
  for (const r of results) {
    for (const c of r.charts ?? []) {
      const file = join(o.chartsDir, `${r.name}-${c.id}.svg`.replace(/[^A-Za-z0-9_.-]/g, '_'));
      await writeFile(file, renderChart(r, c));
      chartFiles.push(file);
      charts.push({ result: r.name, title: c.title, path: relative(dirname(o.outFile), file).split('\\').join('/') });
    }
  }
  // Charts of results that are gone or renamed would linger: the charts folder holds only ours.
  for (const f of await readdir(o.chartsDir)) {
    if (f.endsWith('.svg') && !chartFiles.includes(join(o.chartsDir, f))) await rm(join(o.chartsDir, f), { force: true });
  }
  const markdown = renderMarkdown({
    results,
    known: o.known ?? KNOWN_BENCHMARKS,
    charts,
    generated: o.generated ?? new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    unreadable,
  });
  await mkdir(dirname(o.outFile), { recursive: true });
  await writeFile(o.outFile, markdown);
  return { markdown, chartFiles, results };
}

function argValue(flag: string, dflt: string): string {
  const i = process.argv.indexOf(flag);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (i >= 0 && v === undefined) throw new Error(`${flag} needs a value`);
  return resolve(v ?? dflt);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const opts: ReportOptions = {
    resultsDir: argValue('--results', RESULTS_DIR),
    outFile: argValue('--out', join(BENCH_DIR, '..', 'BENCHMARKS.md')),
    chartsDir: argValue('--charts', join(BENCH_DIR, 'charts')),
  };
  generateReport(opts)
    .then((r) => console.error(`wrote ${opts.outFile} (${r.results.length} results) and ${r.chartFiles.length} charts in ${opts.chartsDir}`))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
