// The report generator: sample results in, BENCHMARKS.md rows and well-formed SVG charts out.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromCri } from '../adapters/cri.js';
import { fromGeneric } from '../adapters/generic.js';
import { fromPodnet } from '../adapters/podnet.js';
import { fromPolicyCompile } from '../adapters/policy-compile.js';
import { generateReport } from '../report.js';
import { metric, type BenchResult } from '../lib/result.js';
import { quantile } from '../lib/stats.js';
import { niceTicks } from '../lib/svg-chart.js';
import { xmlProblem } from './xml-wellformed.js';

const machine = { cpus: 2, load: [3.5, 2.25, 1], loadEnd: [4, 3, 2] };
const meta = { command: 'node x', date: '2026-11-25T01:00:00.000Z', machine };

const cniLatency: BenchResult = {
  name: 'cni-latency',
  command: 'node --import tsx bench/cni-latency/run.ts',
  date: '2026-11-25T02:03:04.000Z',
  machine,
  metrics: [
    metric('Loom ADD p50 (sequential)', 30, 'ms', { max: 45 }),
    metric('Loom DEL p50', 52.345, 'ms', { max: 40 }),
    metric('ADD p50 Loom / bridge', 2.5, 'ratio'),
    metric('Loom concurrent ADDs succeeded (of 50)', 50, 'count', { min: 50 }),
  ],
  series: { 'loom.add.ms': [10, 20, 30, 40, 200], 'bridge.add.ms': [5, 6, 7], 'agent.add.ms': [1, 2, 3] },
  charts: [
    { id: 'add', title: 'ADD latency <Loom & bridge>', kind: 'cdf', unit: 'ms', series: ['loom.add.ms', 'bridge.add.ms'] },
    { id: 'agent', title: 'agent', kind: 'line', unit: 'ms', series: ['agent.add.ms'] },
    { id: 'missing', title: 'no such series', kind: 'cdf', unit: 'ms', series: ['nope'] },
  ],
  notes: ['a note with | a pipe'],
};
const bandwidth: BenchResult = {
  name: 'bandwidth',
  command: 'node --import tsx bench/run-adapted.ts bandwidth',
  date: '2026-11-25T02:10:00.000Z',
  machine,
  metrics: [metric('throughput Loom / plain OVS', 0.91, 'ratio', { min: 0.8 }), metric('rate error', 4, '%', { max: 10 })],
  charts: [{ id: 'ratios', title: 'Throughput ratios', kind: 'bar', unit: 'ratio', metrics: ['throughput Loom / plain OVS'] }],
};
const custom: BenchResult = { name: 'zz-extra', command: 'node extra.ts', date: '2026-11-25T02:20:00.000Z', machine, metrics: [metric('x', 1, 'ms')] };

describe('bench report generator', () => {
  let dir: string;
  let markdown: string;
  let chartFiles: string[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'loomt-bench-report-'));
    const results = join(dir, 'results');
    await mkdir(results);
    await mkdir(join(dir, 'bench', 'charts'), { recursive: true });
    await writeFile(join(dir, 'bench', 'charts', 'stale-old.svg'), '<svg/>');
    for (const r of [cniLatency, bandwidth, custom]) await writeFile(join(results, `${r.name}.json`), JSON.stringify(r));
    await writeFile(join(results, 'broken.json'), JSON.stringify({ name: 'broken', metrics: 'no' }));
    const out = await generateReport({ resultsDir: results, outFile: join(dir, 'BENCHMARKS.md'), chartsDir: join(dir, 'bench', 'charts'), generated: '2026-11-25 03:00 UTC' });
    markdown = await readFile(join(dir, 'BENCHMARKS.md'), 'utf8');
    assert.equal(out.markdown, markdown);
    chartFiles = out.chartFiles;
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes a summary row per benchmark, with targets met, load average and command', () => {
    assert.match(markdown, /^\| \[cni-latency\]\(#cni-latency\) \| 2026-11-25 02:03 UTC \| 3\.5 \/ 2\.25 \/ 1 \| 2 of 3 \(\*\*FAIL\*\*\) \| `node --import tsx bench\/cni-latency\/run\.ts` \|$/m);
    assert.match(markdown, /^\| \[bandwidth\]\(#bandwidth\) \| .* \| 2 of 2 \| /m);
    assert.match(markdown, /^\| \[zz-extra\]\(#zz-extra\) \| .* \| no targets \| /m);
  });

  it('lists expected benchmarks without results as not run, and unreadable files', () => {
    assert.match(markdown, /^\| policy-compile \| not run \| /m);
    assert.match(markdown, /^\| podnet \| not run \| /m);
    assert.match(markdown, /^\| datapath \| not run \| /m);
    assert.match(markdown, /^\| broken\.json \| unreadable: .*"command" must be a string/m);
  });

  it('writes the figures with target and pass/fail', () => {
    assert.match(markdown, /^\| Loom ADD p50 \(sequential\) \| 30 ms \| <= 45 ms \| pass \|$/m);
    assert.match(markdown, /^\| Loom DEL p50 \| 52\.35 ms \| <= 40 ms \| \*\*FAIL\*\* \|$/m);
    assert.match(markdown, /^\| ADD p50 Loom \/ bridge \| 2\.5x \|  \|  \|$/m);
    assert.match(markdown, /^\| Loom concurrent ADDs succeeded \(of 50\) \| 50 \| >= 50 \| pass \|$/m);
    assert.match(markdown, /^\| throughput Loom \/ plain OVS \| 0\.91x \| >= 0\.8x \| pass \|$/m);
    assert.match(markdown, /^- Machine: 2 CPUs, load average 3\.5 \/ 2\.25 \/ 1 at start, 4 \/ 3 \/ 2 at end$/m);
    assert.match(markdown, /^- a note with \| a pipe$/m);
  });

  it('keeps the known benchmarks first and the others after, in order', () => {
    const pos = (s: string) => markdown.indexOf(`## ${s}`);
    assert.ok(pos('cni-latency') > 0 && pos('cni-latency') < pos('bandwidth') && pos('bandwidth') < pos('zz-extra'));
  });

  it('links one SVG per declared chart, each well-formed XML', async () => {
    assert.equal(chartFiles.length, 4);
    assert.deepEqual((await readdir(join(dir, 'bench', 'charts'))).sort(), ['bandwidth-ratios.svg', 'cni-latency-add.svg', 'cni-latency-agent.svg', 'cni-latency-missing.svg'], 'stale charts removed');
    assert.match(markdown, /!\[ADD latency <Loom & bridge>\]\(bench\/charts\/cni-latency-add\.svg\)/);
    assert.match(markdown, /!\[Throughput ratios\]\(bench\/charts\/bandwidth-ratios\.svg\)/);
    for (const f of chartFiles) {
      const svg = await readFile(f, 'utf8');
      assert.equal(xmlProblem(svg), null, `${f}: ${xmlProblem(svg)}`);
      assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    }
    const cdf = await readFile(chartFiles.find((f) => f.endsWith('cni-latency-add.svg'))!, 'utf8');
    assert.match(cdf, /ADD latency &lt;Loom &amp; bridge&gt;/);
    assert.equal((cdf.match(/<polyline/g) ?? []).length, 2, 'one CDF line per series');
    assert.match(cdf, /loom\.add \(n=5\)/);
    assert.match(await readFile(chartFiles.find((f) => f.endsWith('missing.svg'))!, 'utf8'), /no samples/);
  });

  it('the XML check rejects what is not well-formed', () => {
    assert.equal(xmlProblem('<svg><g></g></svg>'), null);
    assert.notEqual(xmlProblem('<svg><g></svg>'), null);
    assert.notEqual(xmlProblem('<svg><text>a & b</text></svg>'), null);
    assert.notEqual(xmlProblem('<svg width=3></svg>'), null);
    assert.notEqual(xmlProblem('<svg></svg><svg></svg>'), null);
  });
});

describe('bench helpers and adapters', () => {
  it('quantile is nearest-rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(quantile(xs, 0.5), 50);
    assert.equal(quantile(xs, 0.99), 99);
    assert.equal(quantile([7], 0.99), 7);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  it('ticks are round and cover the maximum', () => {
    assert.deepEqual(niceTicks(95), [0, 20, 40, 60, 80, 100]);
    assert.deepEqual(niceTicks(1, 4), [0, 0.25, 0.5, 0.75, 1]);
    assert.ok((niceTicks(0.37).at(-1) as number) >= 0.37);
  });

  it('converts policy-compile output with its targets', () => {
    const r = fromPolicyCompile(
      {
        cluster: { pods: 10, namespaces: 2, policies: 3, localPods: 1 },
        full: { ms: 6000, cpuMs: 5000, flows: 9, rules: 2, activePolicies: 1, warnings: 0, heapMB: { afterCompile: 100, compilerState: 50 } },
        singleChange: { podLabelChange: { medianMs: 3, maxMs: 9, medianCpuMs: 2, medianDiffFlows: 4 }, samples: 21 },
        targets: { fullMs: 5000, heapMB: 1500, singleChangeMs: 50 },
      },
      meta,
    );
    assert.equal(r.name, 'policy-compile');
    assert.equal(r.metrics.find((m) => m.name === 'full compile, wall')?.pass, false);
    assert.equal(r.metrics.find((m) => m.name === 'podLabelChange median')?.pass, true);
    assert.deepEqual(r.charts?.[0], { id: 'single-change', title: 'Policy compiler: one change, median time to the flow diff', kind: 'bar', unit: 'ms', metrics: ['podLabelChange median'] });
    assert.throws(() => fromPolicyCompile({ nope: 1 }, meta), /bench\/adapters\/policy-compile\.ts/);
  });

  it('converts podnet output, one metric per run, variant and phase', () => {
    const r = fromPodnet({ cycles: 5, results: { inProcess: { prepared: { inProcess: true }, medianMs: { module: { firstCreate: 9, create: 3, delete: 2, cycle: 5 } } } } }, meta);
    assert.deepEqual(r.metrics.map((m) => `${m.name}=${m.value}`), ['inProcess / module create=3', 'inProcess / module delete=2', 'inProcess / module cycle=5']);
  });

  it('converts the CRI benchmark output with Loom / bridge ratios', () => {
    const st = (x: number) => ({ run: x, stop: x / 2, remove: x / 4, total: x * 2 });
    const r = fromCri({ cycles: 3, loom: { median: st(100), p90: st(200) }, bridge: { median: st(50), p90: st(60) } }, meta);
    assert.equal(r.metrics.find((m) => m.name === 'total median Loom / bridge')?.value, 2);
    assert.equal(r.metrics.find((m) => m.name === 'bridge run p90')?.value, 60);
  });

  it('flattens unknown JSON into metrics with guessed units', () => {
    const r = fromGeneric('datapath', { tcp: { sameNodeGbps: 1.1, samples: [1, 2] }, rttMs: 0.3, label: 'x' }, meta);
    assert.deepEqual(r.metrics.map((m) => [m.name, m.unit]), [['tcp.sameNodeGbps', 'Gbit/s'], ['rttMs', 'ms']]);
  });
});
