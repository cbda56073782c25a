// An isolated Open vSwitch (ovsdb-server + ovs-vswitchd) inside a test network namespace, with its own
// temporary directory (loomt-ovs-* under os.tmpdir()). Never touches a system-wide instance.
// Clients reach it through unix sockets, so tests talk to it from the host namespace.
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_DIR_PREFIX, TEST_NETNS_PREFIX } from './netns.js';

const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
/** Namespaces and directories of the OVS adapter's own tests start with this (a subset of loomt-). */
export const OVS_TEST_PREFIX = `${TEST_NETNS_PREFIX}ovstest`;

export interface OvsInstance {
  netns: string;
  dir: string;
  rundir: string;
  /** `unix:<rundir>/db.sock` */
  dbSock: string;
  /** unixctl socket paths */
  vswitchdCtl: string;
  ovsdbCtl: string;
  /** ovs-ofctl target of a bridge: `unix:<rundir>/<bridge>.mgmt` */
  mgmt(bridge: string): string;
  /** Stops both daemons (killing them when appctl fails) and removes the directory. Safe to call twice. */
  stop(): Promise<void>;
  /** Stops and starts ovs-vswitchd (OpenFlow flows are lost, ports stay in the database). */
  restartVswitchd(): Promise<void>;
  /** Stops and starts ovsdb-server (clients lose their connection; the database file is kept). */
  restartOvsdbServer(): Promise<void>;
}

/** True while the process exists and is not a zombie (a detached daemon may wait a while to be reaped). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function readPid(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !isAlive(pid);
}

/** Starts OVS in `netns`; its directory is `<tmpdir>/<dirPrefix>XXXXXX` (dirPrefix default "loomt-ovs-"). */
export async function startOvsInstance(netns: string, opts: { dirPrefix?: string } = {}): Promise<OvsInstance> {
  if (!netns.startsWith(TEST_NETNS_PREFIX)) throw new Error(`OVS test instances run only in ${TEST_NETNS_PREFIX}* namespaces, got ${netns}`);
  const dirPrefix = opts.dirPrefix ?? `${TEST_DIR_PREFIX}ovs-`;
  if (!dirPrefix.startsWith(TEST_DIR_PREFIX) || /[/\s]/.test(dirPrefix)) throw new Error(`OVS dir prefix must start with ${TEST_DIR_PREFIX} and contain no "/" or spaces, got ${dirPrefix}`);
  const dir = await mkdtemp(join(tmpdir(), dirPrefix));
  const rundir = join(dir, 'run');
  const dbdir = join(dir, 'db');
  const logdir = join(dir, 'log');
  const etcdir = join(dir, 'etc');
  for (const d of [rundir, dbdir, logdir, etcdir]) await mkdir(d, { recursive: true });
  const env = [`OVS_RUNDIR=${rundir}`, `OVS_DBDIR=${dbdir}`, `OVS_LOGDIR=${logdir}`, `OVS_SYSCONFDIR=${etcdir}`];
  const inNs = (cmd: string, args: string[]) => execa('ip', ['netns', 'exec', netns, 'env', ...env, cmd, ...args], { timeout: 20000 });
  const dbSockPath = join(rundir, 'db.sock');
  const vswitchdCtl = join(rundir, 'ovs-vswitchd.ctl');
  const ovsdbCtl = join(rundir, 'ovsdb-server.ctl');
  const ovsdbPidfile = join(rundir, 'ovsdb-server.pid');
  const vswitchdPidfile = join(rundir, 'ovs-vswitchd.pid');

  // Daemon pids, remembered at start so stop() can kill them even if the pidfiles are gone.
  const knownPids = new Map<string, number>();
  const rememberPid = async (pidfile: string) => {
    const pid = await readPid(pidfile);
    if (pid !== null) knownPids.set(pidfile, pid);
  };
  const startOvsdb = () =>
    inNs('ovsdb-server', [
      join(dbdir, 'conf.db'),
      `--remote=punix:${dbSockPath}`,
      '--remote=db:Open_vSwitch,Open_vSwitch,manager_options',
      `--pidfile=${ovsdbPidfile}`,
      `--unixctl=${ovsdbCtl}`,
      `--log-file=${join(logdir, 'ovsdb-server.log')}`,
      '-vconsole:off',
      '--detach',
    ]).finally(() => rememberPid(ovsdbPidfile));
  const startVswitchd = () =>
    inNs('ovs-vswitchd', [
      `unix:${dbSockPath}`,
      `--pidfile=${vswitchdPidfile}`,
      `--unixctl=${vswitchdCtl}`,
      `--log-file=${join(logdir, 'ovs-vswitchd.log')}`,
      '-vconsole:off',
      '--detach',
    ]).finally(() => rememberPid(vswitchdPidfile));

  /** appctl exit, then SIGKILL by pidfile if the daemon is still there. */
  const stopDaemon = async (ctl: string, pidfile: string) => {
    const pid = (await readPid(pidfile)) ?? knownPids.get(pidfile) ?? null;
    await execa('ovs-appctl', ['-t', ctl, 'exit'], { reject: false, timeout: 5000 });
    if (pid !== null && !(await waitGone(pid, 3000))) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
      await waitGone(pid, 2000);
    }
  };

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      await stopDaemon(vswitchdCtl, vswitchdPidfile).catch(() => undefined);
      await stopDaemon(ovsdbCtl, ovsdbPidfile).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    await execa('ovsdb-tool', ['create', join(dbdir, 'conf.db'), SCHEMA], { timeout: 10000 });
    await startOvsdb();
    await execa('ovs-vsctl', [`--db=unix:${dbSockPath}`, '--timeout=10', '--no-wait', 'init'], { timeout: 10000 });
    await startVswitchd();
  } catch (err) {
    await stop();
    throw new Error(`starting OVS in ${netns} failed: ${(err as Error).message}`);
  }

  return {
    netns,
    dir,
    rundir,
    dbSock: `unix:${dbSockPath}`,
    vswitchdCtl,
    ovsdbCtl,
    mgmt: (bridge: string) => `unix:${join(rundir, `${bridge}.mgmt`)}`,
    stop,
    restartVswitchd: async () => {
      await stopDaemon(vswitchdCtl, vswitchdPidfile);
      await startVswitchd();
    },
    restartOvsdbServer: async () => {
      await stopDaemon(ovsdbCtl, ovsdbPidfile);
      await startOvsdb();
    },
  };
}
