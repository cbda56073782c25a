// Build dist/loom-cni once (skipped when it is newer than its sources) and run it like a runtime does.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const LOOM_CNI_BINARY = join(root, 'dist', 'loom-cni');

function newestSourceMtime(): number {
  const srcDir = join(root, 'cni-binary', 'src');
  const files = [join(root, 'scripts', 'build-cni.mjs'), ...readdirSync(srcDir).map((f) => join(srcDir, f))];
  return Math.max(...files.map((f) => statSync(f).mtimeMs));
}

/** Run scripts/build-cni.mjs unless dist/loom-cni is newer than every source. */
export function ensureBinaryBuilt(): void {
  let built = 0;
  try {
    built = statSync(LOOM_CNI_BINARY).mtimeMs;
  } catch {
    built = 0;
  }
  if (built > newestSourceMtime()) return;
  execFileSync(process.execPath, [join(root, 'scripts', 'build-cni.mjs')], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

/** Run the binary with exactly `env` (no PATH, no HOME) and `stdin` as its input. */
export function runBinary(env: Record<string, string>, stdin: string | Buffer, binary = LOOM_CNI_BINARY): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(binary, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => {
      // the binary may stop reading early (oversized stdin): that is its right
    });
    child.on('error', reject);
    child.on('close', (code) => {
      resolvePromise({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), exitCode: code });
    });
    child.stdin.end(stdin);
  });
}
