#!/usr/bin/env node
// Build dist/loom-cni, a Node 24 Single Executable Application, fully offline:
// esbuild bundle (one CommonJS file, built-ins only) -> SEA blob -> copy of node -> postject.
// Also leaves dist/loom-cni.cjs (the bundle) for quick runs with `node`.
// Usage: node scripts/build-cni.mjs   (prints the output path)
import { execFileSync } from 'node:child_process';
import { builtinModules, createRequire } from 'node:module';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const REQUIRED_NODE_MAJOR = 24;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'cni-binary', 'src', 'main.ts');
const distDir = join(root, 'dist');
const bundlePath = join(distDir, 'loom-cni.cjs');
const outPath = join(distDir, 'loom-cni');
const require = createRequire(import.meta.url);

/** Run a program quietly; on failure show its output and stop. */
function run(file, args) {
  try {
    execFileSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    fail(`${[file, ...args].join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

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

    // 2. SEA preparation blob.
    const seaConfig = {
      main: join(work, 'loom-cni.cjs'),
      output: join(work, 'sea-prep.blob'),
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      useSnapshot: false,
      // Ignore NODE_OPTIONS and the like: the plugin inherits its caller's environment, which must
      // not be able to make it load other code (e.g. NODE_OPTIONS=--require x.js).
      execArgvExtension: 'none',
    };
    writeFileSync(join(work, 'sea.json'), JSON.stringify(seaConfig, null, 2));
    run(process.execPath, ['--experimental-sea-config', join(work, 'sea.json')]);

    // 3. Copy node and inject the blob.
    const binary = join(work, 'loom-cni');
    copyFileSync(process.execPath, binary);
    const postjectCli = join(dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');
    run(process.execPath, [postjectCli, binary, 'NODE_SEA_BLOB', join(work, 'sea-prep.blob'), '--sentinel-fuse', SENTINEL_FUSE]);
    chmodSync(binary, 0o755);

    // 4. Publish atomically (a running old binary is unaffected by rename).
    renameSync(join(work, 'loom-cni.cjs'), bundlePath);
    renameSync(binary, outPath);
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
