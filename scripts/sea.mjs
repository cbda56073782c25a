#!/usr/bin/env node
// Turn one CommonJS file into a Node single executable application (SEA), offline: SEA blob (with
// code cache, NODE_OPTIONS ignored) -> copy of the running node -> postject. Used by build-cni.mjs
// and, as a CLI, by the CNI latency benchmark to build its start-up baseline from the same node:
//   node scripts/sea.mjs MAIN.cjs OUT_BINARY
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const require = createRequire(import.meta.url);

/** Run a program quietly; on failure throw with its output. */
function run(file, args) {
  try {
    execFileSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    throw new Error(`${[file, ...args].join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/** Build `out` (replaced atomically) from the CommonJS file `main` with the node running this script. */
export function buildSea(main, out) {
  const work = mkdtempSync(join(dirname(resolve(out)), '.sea-build-'));
  try {
    const seaConfig = {
      main: resolve(main),
      output: join(work, 'sea-prep.blob'),
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      useSnapshot: false,
      // Ignore NODE_OPTIONS and the like: a CNI plugin inherits its caller's environment, which must
      // not be able to make it load other code (e.g. NODE_OPTIONS=--require x.js).
      execArgvExtension: 'none',
    };
    writeFileSync(join(work, 'sea.json'), JSON.stringify(seaConfig, null, 2));
    run(process.execPath, ['--experimental-sea-config', join(work, 'sea.json')]);
    const binary = join(work, 'binary');
    copyFileSync(process.execPath, binary);
    const postjectCli = join(dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');
    run(process.execPath, [postjectCli, binary, 'NODE_SEA_BLOB', join(work, 'sea-prep.blob'), '--sentinel-fuse', SENTINEL_FUSE]);
    chmodSync(binary, 0o755);
    renameSync(binary, out); // a running old binary is unaffected by rename
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [main, out] = process.argv.slice(2);
  if (!main || !out) {
    console.error('usage: node scripts/sea.mjs MAIN.cjs OUT_BINARY');
    process.exit(2);
  }
  try {
    console.log(buildSea(main, out));
  } catch (err) {
    console.error(`sea: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
