// Leftovers of killed runs: namespaces (with every process inside them: agents, OVS daemons, the API
// server, pod servers) and temp dirs under a prefix root whose owning process is gone.
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupLeftovers, listNetns, isAlive } from '../../node-agent/test/support/netns.js';

/** File inside each harness temp dir that names the owning process. */
export const OWNER_FILE = 'loomt-owner.pid';
/** A dir without an owner file is left alone this long (it may be being created right now). */
const UNOWNED_GRACE_MS = 60_000;


export async function markOwned(dir: string): Promise<void> {
  await writeFile(join(dir, OWNER_FILE), String(process.pid));
}

/**
 * Removes namespaces and temp dirs starting with `prefixRoot` that belong to no live process.
 * Safe while other runs with the same root are alive: their things are recorded as theirs.
 */
export async function cleanupClusterLeftovers(prefixRoot: string): Promise<void> {
  if (!/^loomt-[a-z0-9-]+-$/.test(prefixRoot)) throw new Error(`prefix root must look like "loomt-e2e-", got "${prefixRoot}"`);
  await cleanupLeftovers(prefixRoot);
  for (const entry of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (!entry.startsWith(prefixRoot)) continue;
    const dir = join(tmpdir(), entry);
    const owner = Number((await readFile(join(dir, OWNER_FILE), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0) {
      if (owner !== process.pid && isAlive(owner)) continue;
    } else {
      const st = await stat(dir).catch(() => undefined);
      if (!st || Date.now() - st.mtimeMs < UNOWNED_GRACE_MS) continue;
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }
}

/** Where netns.ts records the creator of each test namespace (one file per namespace holding a pid). */
const NETNS_OWNER_DIR = '/run/loom-test-owners';

/**
 * Makes `pid` the owner of every namespace and temp dir under `prefix`, so that leftover cleanup
 * (ours and node-agent's cleanupLeftovers) leaves a deliberately kept cluster alone while pid lives.
 */
export async function transferOwnership(prefix: string, pid: number): Promise<void> {
  if (!Number.isInteger(pid) || pid < 1) throw new Error(`owner pid must be a positive integer, got ${pid}`);
  for (const ns of await listNetns()) {
    if (ns.startsWith(prefix)) await writeFile(join(NETNS_OWNER_DIR, ns), String(pid));
  }
  for (const entry of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (entry.startsWith(prefix)) await writeFile(join(tmpdir(), entry, OWNER_FILE), String(pid)).catch(() => undefined);
  }
}

/** What is still on the machine under a prefix: for teardown checks. */
export async function leftoversOf(prefix: string): Promise<{ netns: string[]; dirs: string[]; processes: string[] }> {
  const netns = (await listNetns()).filter((n) => n.startsWith(prefix));
  const dirs = (await readdir(tmpdir()).catch(() => [] as string[])).filter((d) => d.startsWith(prefix));
  const processes: string[] = [];
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    if (cmdline.includes(prefix)) processes.push(`${pid}: ${cmdline.trim()}`);
  }
  return { netns, dirs, processes };
}
