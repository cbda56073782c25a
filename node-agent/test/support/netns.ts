// Network namespaces owned by tests. Every namespace a test creates is named with TEST_NETNS_PREFIX
// so that leftovers of a killed run can be found and removed at the next start.
import { execa } from 'execa';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TEST_NETNS_PREFIX = 'loomt-';
export const TEST_DIR_PREFIX = 'loomt-';
/** Which test process created each namespace, so a run never removes another live run's namespaces. */
const OWNER_DIR = '/run/loom-test-owners';
/** Temporary directories younger than this are left alone by cleanupLeftovers (they may be in use). */
const STALE_DIR_MS = 15 * 60 * 1000;

/** True while a process with this pid exists (signal 0 probe). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function ownerOf(ns: string): Promise<number | undefined> {
  const text = await readFile(`${OWNER_DIR}/${ns}`, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Skip the calling suite when not root (integration tests need namespaces and OVS). */
export function requireRoot(ctx: Mocha.Context): void {
  if (!isRoot()) {
    console.warn('skipping: integration tests need root (network namespaces, OVS)');
    ctx.skip();
  }
}

export async function listNetns(): Promise<string[]> {
  const { stdout } = await execa('ip', ['netns', 'list'], { reject: false });
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.length > 0);
}

export async function createNetns(name: string): Promise<string> {
  if (!name.startsWith(TEST_NETNS_PREFIX)) throw new Error(`test netns ${name} must start with ${TEST_NETNS_PREFIX}`);
  // Owner first: another run's cleanup must never see this namespace without an owner.
  await mkdir(OWNER_DIR, { recursive: true });
  await writeFile(`${OWNER_DIR}/${name}`, String(process.pid));
  try {
    await execa('ip', ['netns', 'add', name]);
  } catch (e) {
    await rm(`${OWNER_DIR}/${name}`, { force: true });
    throw e;
  }
  await execa('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** Kill every process inside the namespace, then delete it. Never throws. */
export async function deleteNetns(name: string): Promise<void> {
  const { stdout } = await execa('ip', ['netns', 'pids', name], { reject: false });
  const pids = stdout.split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  await execa('ip', ['netns', 'del', name], { reject: false });
  await rm(`${OWNER_DIR}/${name}`, { force: true });
}

/**
 * Remove namespaces and temporary directories left by a killed run: namespaces whose creating
 * process is gone (or unknown), and temporary directories older than 15 minutes.
 */
export async function cleanupLeftovers(prefix = TEST_NETNS_PREFIX): Promise<void> {
  for (const ns of await listNetns()) {
    if (!ns.startsWith(prefix)) continue;
    const owner = await ownerOf(ns);
    if (owner !== undefined && owner !== process.pid && isAlive(owner)) continue;
    await deleteNetns(ns);
  }
  const tmp = tmpdir();
  for (const entry of await readdir(tmp).catch(() => [] as string[])) {
    if (!entry.startsWith(TEST_DIR_PREFIX)) continue;
    const st = await stat(join(tmp, entry)).catch(() => undefined);
    if (!st || Date.now() - st.mtimeMs < STALE_DIR_MS) continue;
    if (entry.startsWith(TEST_DIR_PREFIX)) await rm(join(tmp, entry), { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }
}

/** Run a command inside a namespace (argument array, no shell). */
export function nsExec(ns: string, cmd: string, args: string[], opts: { reject?: boolean; timeout?: number } = {}) {
  return execa('ip', ['netns', 'exec', ns, cmd, ...args], { reject: opts.reject ?? true, timeout: opts.timeout ?? 20000 });
}
