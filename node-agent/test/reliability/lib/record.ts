// Figures measured by the reliability tests. Each is printed; when LOOM_RELIABILITY_RESULTS names a
// file, it is also appended there as one JSON line (bench/reliability/run.ts collects them).
import { appendFileSync } from 'node:fs';

export interface RecordedFigure {
  scenario: string;
  name: string;
  value: number;
  unit: string;
  target?: { max?: number; min?: number };
  pass?: boolean;
  note?: string;
}

export function recordFigure(f: RecordedFigure): void {
  const value = Math.round(f.value * 100) / 100;
  const fig: RecordedFigure = { ...f, value };
  if (f.target && f.pass === undefined) {
    fig.pass = (f.target.max === undefined || f.value <= f.target.max) && (f.target.min === undefined || f.value >= f.target.min);
  }
  console.log(`      [figure] ${f.scenario}: ${f.name} = ${value} ${f.unit}${fig.pass === undefined ? '' : fig.pass ? ' (pass)' : ' (FAIL)'}`);
  const file = process.env.LOOM_RELIABILITY_RESULTS;
  if (file) appendFileSync(file, JSON.stringify(fig) + '\n');
}
