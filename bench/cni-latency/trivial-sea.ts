// The start-up floor of any Node CNI plugin on this machine, measured in the same run: a Node single
// executable built from the same node binary and SEA settings as loom-cni, which reads stdin to the
// end and prints a small JSON object (what every CNI plugin does at least).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../node-agent/test/support/agent-node.js';

const MAIN = `'use strict';
const fs = require('node:fs');
const buf = Buffer.alloc(65536);
let size = 0;
for (;;) { const n = fs.readSync(0, buf, 0, buf.length, null); if (n === 0) break; size += n; }
fs.writeSync(1, JSON.stringify({ cniVersion: '1.1.0', stdinBytes: size }));
`;

export interface TrivialSea {
  path: string;
  remove(): Promise<void>;
}

export async function buildTrivialSea(): Promise<TrivialSea> {
  const dir = await mkdtemp(join(tmpdir(), 'loomt-bench-sea-'));
  try {
    await writeFile(join(dir, 'main.cjs'), MAIN);
    const path = join(dir, 'trivial-sea');
    execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'sea.mjs'), join(dir, 'main.cjs'), path], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { path, remove: () => rm(dir, { recursive: true, force: true }) };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
