// Plain SVG charts (no dependencies) that GitHub renders inline: CDFs, lines over sample number,
// horizontal bars. Every function returns a complete, well-formed SVG document.

export interface NamedValues {
  label: string;
  values: number[];
}

export interface Bar {
  label: string;
  value: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const W = 720;
const H = 400;
const M = { left: 70, right: 20, top: 40, bottom: 60 };
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Round tick step: 1, 2 or 5 times a power of ten, about `count` ticks up to max. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow);
  const ticks: number[] = [];
  for (let t = 0; t < max + step * 0.999; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? String(Math.round(x)) : String(Number(x.toPrecision(3))));
const n = (x: number) => x.toFixed(1);

function frame(title: string, body: string[], height = H): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">`,
    `<rect width="${W}" height="${height}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" ${FONT}>${escapeXml(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** Axes with ticks; returns the SVG parts and the scale functions. */
function axes(xMax: number, yMax: number, xLabel: string, yLabel: string, yTicks?: number[]) {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const xt = niceTicks(xMax);
  const yt = yTicks ?? niceTicks(yMax);
  const xTop = xt[xt.length - 1] as number;
  const yTop = yt[yt.length - 1] as number;
  const sx = (x: number) => M.left + (x / xTop) * pw;
  const sy = (y: number) => M.top + ph - (y / yTop) * ph;
  const parts: string[] = [];
  for (const t of yt) {
    parts.push(`<line x1="${M.left}" y1="${n(sy(t))}" x2="${W - M.right}" y2="${n(sy(t))}" stroke="#e0e0e0"/>`);
    parts.push(`<text x="${M.left - 6}" y="${n(sy(t) + 4)}" text-anchor="end" font-size="11" ${FONT}>${fmt(t)}</text>`);
  }
  for (const t of xt) {
    parts.push(`<line x1="${n(sx(t))}" y1="${M.top + ph}" x2="${n(sx(t))}" y2="${M.top + ph + 5}" stroke="#333333"/>`);
    parts.push(`<text x="${n(sx(t))}" y="${M.top + ph + 18}" text-anchor="middle" font-size="11" ${FONT}>${fmt(t)}</text>`);
  }
  parts.push(`<line x1="${M.left}" y1="${M.top + ph}" x2="${W - M.right}" y2="${M.top + ph}" stroke="#333333"/>`);
  parts.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" stroke="#333333"/>`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 22}" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(xLabel)}</text>`);
  parts.push(`<text x="16" y="${M.top + ph / 2}" text-anchor="middle" font-size="12" ${FONT} transform="rotate(-90 16 ${M.top + ph / 2})">${escapeXml(yLabel)}</text>`);
  return { parts, sx, sy };
}

function legend(labels: string[]): string[] {
  return labels.map((l, i) => {
    const x = M.left + 10 + i * 170;
    const y = H - 8;
    const c = PALETTE[i % PALETTE.length] as string;
    return `<rect x="${x}" y="${y - 9}" width="14" height="4" fill="${c}"/><text x="${x + 20}" y="${y - 4}" font-size="11" ${FONT}>${escapeXml(l)}</text>`;
  });
}

function emptyNote(): string {
  return `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" font-size="13" fill="#888888" ${FONT}>no samples</text>`;
}

/** Cumulative distribution of each sample set: x = value, y = fraction of samples <= x. */
export function cdfChart(title: string, unit: string, sets: NamedValues[]): string {
  const all = sets.flatMap((s) => s.values);
  if (all.length === 0) return frame(title, [emptyNote()]);
  const { parts, sx, sy } = axes(Math.max(...all), 1, unit, 'fraction of requests', [0, 0.25, 0.5, 0.75, 1]);
  sets.forEach((s, i) => {
    const v = [...s.values].sort((a, b) => a - b);
    const pts: string[] = [`${n(sx(0))},${n(sy(0))}`];
    v.forEach((x, k) => pts.push(`${n(sx(x))},${n(sy(k / v.length))}`, `${n(sx(x))},${n(sy((k + 1) / v.length))}`));
    parts.push(`<polyline fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="2" points="${pts.join(' ')}"/>`);
  });
  return frame(title, [...parts, ...legend(sets.map((s) => `${s.label} (n=${s.values.length})`))]);
}

/** Each series against its sample number (1..n). */
export function lineChart(title: string, unit: string, sets: NamedValues[]): string {
  const all = sets.flatMap((s) => s.values);
  if (all.length === 0) return frame(title, [emptyNote()]);
  const { parts, sx, sy } = axes(Math.max(...sets.map((s) => s.values.length)), Math.max(...all), 'sample number', unit);
  sets.forEach((s, i) => {
    const pts = s.values.map((y, k) => `${n(sx(k + 1))},${n(sy(y))}`);
    parts.push(`<polyline fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
  });
  return frame(title, [...parts, ...legend(sets.map((s) => s.label))]);
}

/** Horizontal bars, one per label, with the value printed at the end of the bar. */
export function barChart(title: string, unit: string, bars: Bar[]): string {
  const rowH = 26;
  const labelW = 300;
  const height = M.top + bars.length * rowH + 40;
  const max = Math.max(0, ...bars.map((b) => b.value));
  const scale = max > 0 ? (W - labelW - 90) / max : 0;
  const body: string[] = bars.map((b, i) => {
    const y = M.top + i * rowH;
    const w = Math.max(0, b.value * scale);
    const c = PALETTE[i % PALETTE.length] as string;
    return [
      `<text x="${labelW - 8}" y="${y + 16}" text-anchor="end" font-size="11" ${FONT}>${escapeXml(b.label)}</text>`,
      `<rect x="${labelW}" y="${y + 4}" width="${n(w)}" height="${rowH - 8}" fill="${c}"/>`,
      `<text x="${n(labelW + w + 6)}" y="${y + 16}" font-size="11" ${FONT}>${escapeXml(`${fmt(b.value)} ${unit}`)}</text>`,
    ].join('');
  });
  if (bars.length === 0) body.push(emptyNote());
  return frame(title, body, Math.max(height, 120));
}
