#!/usr/bin/env node
// Renders helm/loom with its default values into manifests/loom.yaml (kubectl apply -f ready).
//   node scripts/render-manifest.mjs          write manifests/loom.yaml
//   node scripts/render-manifest.mjs --check  exit 1 if manifests/loom.yaml is stale
import { execa } from 'execa';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchHelm } from './fetch-helm.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CHART_DIR = join(repoRoot, 'helm', 'loom');
export const MANIFEST_PATH = join(repoRoot, 'manifests', 'loom.yaml');
export const RELEASE_NAME = 'loom';
export const NAMESPACE = 'kube-system';

const HEADER = [
  '# GENERATED FILE - DO NOT EDIT.',
  '# Rendered from helm/loom with default values by scripts/render-manifest.mjs',
  '# (helm template loom helm/loom --namespace kube-system). Change the chart, then re-run the script.',
  '# Install: kubectl apply -f manifests/loom.yaml',
  '',
].join('\n');

export async function renderManifest() {
  const helm = await fetchHelm();
  const { stdout } = await execa(helm, ['template', RELEASE_NAME, CHART_DIR, '--namespace', NAMESPACE]);
  return `${HEADER}${stdout.trimEnd()}\n`;
}

async function main() {
  const rendered = await renderManifest();
  if (process.argv.includes('--check')) {
    const current = await readFile(MANIFEST_PATH, 'utf8').catch(() => '');
    if (current !== rendered) {
      console.error(`${MANIFEST_PATH} is stale: run node scripts/render-manifest.mjs`);
      process.exit(1);
    }
    console.log(`${MANIFEST_PATH} is up to date`);
    return;
  }
  const tmp = `${MANIFEST_PATH}.tmp-${process.pid}`;
  await writeFile(tmp, rendered);
  await rename(tmp, MANIFEST_PATH);
  console.log(`wrote ${MANIFEST_PATH}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => { console.error(`render-manifest: ${err.message}`); process.exit(1); });
}
