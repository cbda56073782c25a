#!/usr/bin/env node
// Build dist/loom-cni, a Node 24 Single Executable Application, fully offline:
// esbuild bundle (one CommonJS file, built-ins only) -> SEA (scripts/sea.mjs).
// Also leaves dist/loom-cni.cjs (the bundle) for quick runs with `node`.
// Usage: node scripts/build-cni.mjs   (prints the output path)
import { builtinModules } from 'node:module';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSea } from './sea.mjs';

const REQUIRED_NODE_MAJOR = 24;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'cni-binary', 'src', 'main.ts');
const distDir = join(root, 'dist');
const bundlePath = join(distDir, 'loom-cni.cjs');
const outPath = join(distDir, 'loom-cni');

function fail(msg) {
  throw new Error(msg);
}

async function build() {
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  if (nodeMajor !== REQUIRED_NODE_MAJOR) {
    fail(`running on Node ${process.versions.node} (${process.execPath}); the SEA must be built from Node ${REQUIRED_NODE_MAJOR}: ` +
      'run it via `npm run build:cni` or with node_modules/.bin first on PATH');
  }

  mkdirSync(distDir, { recursive: true });
  const work = mkdtempSync(join(distDir, '.loom-cni-build-'));
  try {
    // 1. Bundle to one CommonJS file.
    const esbuild = await import('esbuild');
    const built = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      target: 'node24',
      format: 'cjs',
      outfile: join(work, 'loom-cni.cjs'),
      metafile: true,
      legalComments: 'none',
      logLevel: 'warning',
    });
    const fromPackages = Object.keys(built.metafile.inputs).filter((p) => p.includes('node_modules'));
    if (fromPackages.length > 0) fail(`the bundle pulls in packages, only Node built-ins are allowed: ${fromPackages.join(', ')}`);
    const bundle = readFileSync(join(work, 'loom-cni.cjs'), 'utf8');
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const required = [...bundle.matchAll(/\b(?:require|import)\(\s*(["'`])([^"'`]+)\1\s*\)/g)].map((m) => m[2]);
    const nonBuiltin = [...new Set(required.filter((m) => !builtins.has(m)))];
    if (nonBuiltin.length > 0) fail(`the bundle requires non-built-in modules: ${nonBuiltin.join(', ')}`);
    if (/\b(?:require|import)\(\s*[^"'`\s)]/.test(bundle)) {
      fail('the bundle contains a require()/import() of a computed name; only literal built-in modules are allowed');
    }

    // 2. SEA (blob with code cache, copy of node, postject), published atomically; then the bundle.
    buildSea(join(work, 'loom-cni.cjs'), outPath);
    renameSync(join(work, 'loom-cni.cjs'), bundlePath);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return outPath;
}

build().then(
  (path) => console.log(path),
  (err) => {
    console.error(`build-cni: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
