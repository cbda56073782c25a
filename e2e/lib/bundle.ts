// Bundles the programs the harness runs inside namespaces (agnhost, the test API server) into
// single ESM files once per cluster: fast start, no tsx and no node_modules lookup at run time.
import { build } from 'esbuild';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

export interface HarnessPrograms {
  agnhost: string;
  apiServer: string;
}

export async function bundlePrograms(outDir: string): Promise<HarnessPrograms> {
  const programs: HarnessPrograms = { agnhost: join(outDir, 'agnhost.mjs'), apiServer: join(outDir, 'apiserver.mjs') };
  const entries: Array<[string, string]> = [
    [join(REPO_ROOT, 'e2e/lib/agnhost.ts'), programs.agnhost],
    [join(REPO_ROOT, 'e2e/apiserver/main.ts'), programs.apiServer],
  ];
  await Promise.all(entries.map(([entry, outfile]) => build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    logLevel: 'error',
    banner: { js: "import { createRequire as __loomCreateRequire } from 'node:module'; const require = __loomCreateRequire(import.meta.url);" },
  })));
  return programs;
}
