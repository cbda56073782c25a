// Bundles loom-agent (and loomctl when present) into dist/ as ESM files that load their npm
// dependencies from node_modules at run time.
import { build } from 'esbuild';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(join(root, 'dist'), { recursive: true });
const entries = [
  ['node-agent/src/main.ts', 'dist/loom-agent.mjs'],
  ['node-agent/src/loomctl/main.ts', 'dist/loomctl.mjs'],
];
for (const [src, out] of entries) {
  if (!existsSync(join(root, src))) continue;
  await build({
    entryPoints: [join(root, src)],
    outfile: join(root, out),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    packages: 'external',
    sourcemap: 'inline',
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
  });
  console.log(out);
}
