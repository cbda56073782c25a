// A private containerd (with its CRI plugin) for tests: own root/state/socket under a
// `loomt-cri-*` temporary directory, its own CNI bin_dir and conf_dir, running inside a node's
// network namespace. Never touches a system-wide containerd (/run/containerd, /var/lib/containerd).
//
// containerd is started with `nsenter --net=...` (network namespace only), not `ip netns exec`:
// it must stay in the host mount namespace so that the sandbox netns it bind-mounts under
// /var/run/netns (a shared mount) is visible to loom-agent, which runs in its own mount namespace.
import { isAlive } from '../../node-agent/test/support/netns.js';
import { execa, type ResultPromise } from 'execa';
import { appendFileSync, existsSync, readFileSync, watch } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CRI_PROTO, CriClient } from './cri-client.js';

export const CRI_DIR_PREFIX = 'loomt-cri-';
/** Where Debian's containernetworking-plugins installs loopback, portmap, bridge, host-local. */
export const DEBIAN_CNI_DIR = '/usr/lib/cni';
export const REQUIRED_TOOLS = ['containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'nsenter', 'tar'] as const;
/** containerd 1.6 bind-mounts each sandbox netns here (a shared mount, visible in every mount namespace). */
const NETNS_DIR = '/var/run/netns';
const SANDBOX_NETNS_RE = /^\/var\/run\/netns\/cni-[0-9a-f-]{36}$/;
/** Every cni-* netns that appeared while this instance ran, for cleanup after a killed run. */
const SANDBOX_NETNS_FILE = 'sandbox-netns';
const SAFE_PATH_RE = /^\/[A-Za-z0-9._\/-]+$/;

export type Snapshotter = 'overlayfs' | 'native';

export interface ContainerdOptions {
  /** node network namespace (a `loomt-` name) that containerd runs in */
  netns: string;
  /** image reference used as CRI `sandbox_image`; it must be imported before the first sandbox */
  sandboxImage: string;
  /** the CNI network configuration list written to conf_dir as 10-<name>.conflist */
  conflist: { name: string } & Record<string, unknown>;
  /** CNI executables for bin_dir: file name -> absolute source path (symlinked) */
  cniBinaries: Record<string, string>;
  snapshotter?: Snapshotter;
}

export interface PrivateContainerd {
  dir: string;
  /** containerd's grpc socket (CRI and containerd APIs) */
  socket: string;
  netns: string;
  logFile: string;
  cri: CriClient;
  /** `ctr` against this instance (namespace k8s.io), argument array only */
  ctr(args: string[]): Promise<string>;
  /** `ctr images import` of an OCI archive, then waits until the CRI plugin sees `ref` */
  importImage(archive: string, ref: string): Promise<void>;
  /** Stop and remove every sandbox (best effort), stop containerd, kill its shims, unmount, remove the directory. */
  stop(): Promise<void>;
}

/** Why containerd cannot run here (missing executables), or undefined when it can. */
export function containerdUnavailableReason(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/sbin', '/sbin', '/bin']);
  const missing: string[] = REQUIRED_TOOLS.filter((t) => !dirs.some((d) => d && existsSync(join(d, t))));
  for (const p of ['loopback', 'portmap']) if (!existsSync(join(DEBIAN_CNI_DIR, p))) missing.push(`${DEBIAN_CNI_DIR}/${p}`);
  if (missing.length === 0) return undefined;
  return `missing ${missing.join(', ')}: apt-get install containerd runc containernetworking-plugins util-linux tar`;
}

function tomlString(s: string): string {
  if (!SAFE_PATH_RE.test(s) && !/^[A-Za-z0-9._:\/-]+$/.test(s)) throw new Error(`refusing to put ${JSON.stringify(s)} into containerd's config`);
  return JSON.stringify(s);
}

/** containerd 1.6 config (version 2) for a private instance rooted at `dir`. */
export function containerdConfigToml(dir: string, o: { sandboxImage: string; snapshotter: Snapshotter }): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = ${tomlString(join(dir, 'root'))}`,
    `state = ${tomlString(join(dir, 'state'))}`,
    'oom_score = 0',
    // Snapshotters that need kernel features or tools this machine lacks only log noise.
    'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]',
    '[grpc]',
    `  address = ${tomlString(join(dir, 'containerd.sock'))}`,
    '[ttrpc]',
    `  address = ${tomlString(join(dir, 'containerd.sock.ttrpc'))}`,
    '[debug]',
    '  address = ""',
    '  level = "info"',
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${tomlString(join(dir, 'opt'))}`,
    `[${cri}]`,
    `  sandbox_image = ${tomlString(o.sandboxImage)}`,
    // No CAP_SYS_RESOURCE on these VMs: without this every sandbox start fails on oom_score_adj.
    '  restrict_oom_score_adj = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  enable_selinux = false',
    `[${cri}.containerd]`,
    `  snapshotter = ${tomlString(o.snapshotter)}`,
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.cni]`,
    `  bin_dir = ${tomlString(join(dir, 'cni-bin'))}`,
    `  conf_dir = ${tomlString(join(dir, 'cni-conf'))}`,
    '  max_conf_num = 1',
    '',
  ].join('\n');
}


function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

async function pids(): Promise<number[]> {
  return (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * SIGKILL containerd and its shims (and the shims' children, the sandbox processes) whose command
 * line names a path under `dir`. Returns how many processes were killed.
 */
export async function killProcessesUsing(dir: string): Promise<number> {
  const all = await pids();
  const owners = all.filter((pid) => pid !== process.pid && cmdline(pid).some((a) => a.startsWith(`${dir}/`)) && /containerd/.test(cmdline(pid)[0] ?? ''));
  const victims = new Set(owners);
  // Children of shims: the sandbox init processes (each the init of its own pid namespace).
  for (const pid of all) {
    const ppid = parentOf(pid);
    if (ppid !== undefined && victims.has(ppid) && /shim/.test(cmdline(ppid)[0] ?? '')) victims.add(pid);
  }
  for (const pid of victims) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  const until = Date.now() + 3000;
  while ([...victims].some(isAlive) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return victims.size;
}

/** Lazily unmounts every mount point at or below `dir` (deepest first). */
async function unmountUnder(dir: string): Promise<void> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await execa('umount', ['-l', p], { reject: false });
}

/** Unmounts and removes a sandbox netns that containerd left in /var/run/netns, unless a process still uses it. */
async function removeSandboxNetns(path: string): Promise<void> {
  if (!SANDBOX_NETNS_RE.test(path) || !existsSync(path)) return;
  const inUse = await execa('ip', ['netns', 'pids', path.slice(NETNS_DIR.length + 1)], { reject: false });
  if (inUse.stdout.trim() !== '') return;
  await execa('umount', ['-l', path], { reject: false });
  await rm(path, { force: true });
}

/** libcni's result cache (containerd 1.6 uses the default /var/lib/cni): one file per network, sandbox and interface. */
const CNI_CACHE_DIR = '/var/lib/cni/results';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Ids of the sandboxes this instance knows (its CRI plugin keeps a directory per sandbox). */
async function sandboxIds(dir: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const base of ['root', 'state']) {
    for (const id of await readdir(join(dir, base, 'io.containerd.grpc.v1.cri', 'sandboxes')).catch(() => [] as string[])) {
      if (/^[0-9a-f]{64}$/.test(id)) ids.add(id);
    }
  }
  return ids;
}

/**
 * Removes what a sandbox leaves outside the instance directory when containerd never cleaned it up:
 * libcni cache files and the (empty, once its processes are dead) cgroups `k8s.io/<id>` in every
 * hierarchy (cgroup v1 and v2).
 */
async function removeSandboxLeftovers(ids: Set<string>): Promise<void> {
  if (ids.size === 0) return;
  for (const f of await readdir(CNI_CACHE_DIR).catch(() => [] as string[])) {
    const id = /-([0-9a-f]{64})-[^-]+$/.exec(f)?.[1];
    if (id && ids.has(id)) await rm(join(CNI_CACHE_DIR, f), { force: true });
  }
  const hierarchies = ['', ...(await readdir(CGROUP_ROOT).catch(() => [] as string[]))];
  for (const h of hierarchies) {
    for (const id of ids) await rmdir(join(CGROUP_ROOT, h, 'k8s.io', id)).catch(() => undefined);
  }
}

async function removeInstanceDir(dir: string): Promise<void> {
  await killProcessesUsing(dir);
  await removeSandboxLeftovers(await sandboxIds(dir));
  const recorded = await readFile(join(dir, SANDBOX_NETNS_FILE), 'utf8').catch(() => '');
  for (const p of new Set(recorded.split('\n').filter(Boolean))) await removeSandboxNetns(p);
  await unmountUnder(dir);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Removes what a killed run left: for every `loomt-cri-*` directory whose owning test process is
 * gone, kills the containerd, shims and sandbox processes using it, removes the sandbox netns it
 * recorded, its sandboxes' libcni cache files and cgroups, unmounts and deletes it. Directories of
 * live runs are left alone.
 */
export async function cleanupContainerdLeftovers(prefix = CRI_DIR_PREFIX): Promise<void> {
  if (!prefix.startsWith(CRI_DIR_PREFIX)) throw new Error(`cleanup prefix must start with ${CRI_DIR_PREFIX}, got ${prefix}`);
  for (const entry of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (!entry.startsWith(prefix)) continue;
    const dir = join(tmpdir(), entry);
    const owner = Number((await readFile(join(dir, 'owner.pid'), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) continue;
    await removeInstanceDir(dir);
  }
}

interface ImageStatusStub extends grpc.Client {
  ImageStatus(req: { image: { image: string } }, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { image: { id: string } | null }) => void): void;
}

/** Polls CRI ImageStatus until the CRI plugin knows `ref` (image events are processed asynchronously). */
async function waitCriImage(socket: string, ref: string, timeoutMs = 10000): Promise<void> {
  const def = protoLoader.loadSync(CRI_PROTO, { keepCase: false, longs: String, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { ImageService: new (a: string, c: grpc.ChannelCredentials) => ImageStatusStub } } };
  const stub = new pkg.runtime.v1.ImageService(`unix://${socket}`, grpc.credentials.createInsecure());
  try {
    const until = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < until) {
      const id = await new Promise<string>((resolve) => {
        stub.ImageStatus({ image: { image: ref } }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) => {
          last = err ? err.message : '';
          resolve(res?.image?.id ?? '');
        });
      });
      if (id) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`containerd's CRI plugin does not list image ${ref} after import${last ? ` (${last})` : ''}`);
  } finally {
    stub.close();
  }
}

export async function startContainerd(o: ContainerdOptions): Promise<PrivateContainerd> {
  if (!o.netns.startsWith('loomt-')) throw new Error(`test containerd runs only in loomt-* namespaces, got ${o.netns}`);
  if (!/^[a-z0-9][a-z0-9-]*$/.test(o.conflist.name)) throw new Error(`CNI network name ${JSON.stringify(o.conflist.name)} must be lowercase letters, digits and dashes`);
  const snapshotter = o.snapshotter ?? 'overlayfs';
  const dir = await mkdtemp(join(tmpdir(), CRI_DIR_PREFIX));
  await writeFile(join(dir, 'owner.pid'), String(process.pid));
  const socket = join(dir, 'containerd.sock');
  const logFile = join(dir, 'containerd.log');
  const configFile = join(dir, 'config.toml');
  const binDir = join(dir, 'cni-bin');
  const confDir = join(dir, 'cni-conf');
  let proc: ResultPromise | undefined;
  let cri: CriClient | undefined;
  // containerd names sandbox netns cni-<uuid> and tells nobody before CNI ADD: watch the directory so
  // that a later run can remove them if this process is killed while a sandbox exists.
  await mkdir(NETNS_DIR, { recursive: true });
  const netnsWatcher = watch(NETNS_DIR, (_event, name) => {
    if (!name || !SANDBOX_NETNS_RE.test(`${NETNS_DIR}/${name}`)) return;
    try {
      appendFileSync(join(dir, SANDBOX_NETNS_FILE), `${NETNS_DIR}/${name}\n`);
    } catch {
      /* the directory is being removed */
    }
  });

  const stopped = { done: false };
  const stop = async () => {
    if (stopped.done) return;
    stopped.done = true;
    if (cri && proc && proc.exitCode === null) {
      // Let containerd run the CNI DELs itself, so the node is left clean when a test fails midway.
      const sandboxes = await cri.listPodSandbox().catch(() => []);
      for (const s of sandboxes) {
        await cri.stopPodSandbox(s.id).catch(() => undefined);
        await cri.removePodSandbox(s.id).catch(() => undefined);
      }
    }
    cri?.close();
    netnsWatcher.close();
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc?.kill('SIGKILL'), 5000);
      await proc.catch(() => undefined);
      clearTimeout(timer);
    }
    await removeInstanceDir(dir);
  };

  try {
    for (const d of [join(dir, 'root'), join(dir, 'state'), join(dir, 'opt'), binDir, confDir]) await mkdir(d, { recursive: true });
    for (const [name, src] of Object.entries(o.cniBinaries)) {
      if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`CNI binary name ${JSON.stringify(name)} is not a plain file name`);
      if (!existsSync(src)) throw new Error(`CNI binary ${src} does not exist (run "npm run build" / install containernetworking-plugins)`);
      await symlink(src, join(binDir, name));
    }
    await writeFile(join(confDir, `10-${o.conflist.name}.conflist`), JSON.stringify(o.conflist, null, 2));
    await writeFile(configFile, containerdConfigToml(dir, { sandboxImage: o.sandboxImage, snapshotter }));

    proc = execa('nsenter', [`--net=/var/run/netns/${o.netns}`, '--', 'containerd', '--config', configFile], {
      reject: false,
      stdin: 'ignore',
      stdout: { file: logFile },
      stderr: { file: logFile },
    });
    cri = new CriClient(socket);
    const until = Date.now() + 20000;
    let lastErr = '';
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`containerd exited with code ${proc.exitCode} during start-up`);
      if (existsSync(socket)) {
        try {
          await cri.version();
          break;
        } catch (e) {
          lastErr = (e as Error).message;
        }
      }
      if (Date.now() > until) throw new Error(`containerd did not answer CRI Version within 20 s${lastErr ? `: ${lastErr}` : ''}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
    await stop();
    throw new Error(`starting containerd in ${o.netns} failed: ${(e as Error).message}\nlast containerd log lines:\n${tail}`);
  }

  const ctr = async (args: string[]) => {
    const r = await execa('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args], { reject: false, timeout: 60000 });
    if (r.exitCode !== 0) throw new Error(`ctr ${args.join(' ')} failed (exit ${r.exitCode}): ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  return {
    dir,
    socket,
    netns: o.netns,
    logFile,
    cri,
    ctr,
    async importImage(archive, ref) {
      await ctr(['images', 'import', '--snapshotter', snapshotter, archive]);
      await waitCriImage(socket, ref);
    },
    stop,
  };
}
