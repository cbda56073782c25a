// scripts/image/loom-ovs against the real OVS daemons, in a loomt- namespace with private directories
// (no bridges are created, so no traffic at all). Checks start, check, clean stop on SIGTERM and the
// flow-restore-wait handling on restart.
import assert from 'node:assert/strict';
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, deleteNetns, requireRoot, TEST_DIR_PREFIX } from '../support/netns.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
const SCRIPT = join(REPO, 'scripts', 'image', 'loom-ovs');

describe('install: loom-ovs start script', function () {
  this.timeout(60_000);
  const ns = `loomt-ovs-${process.pid}`;
  let dir = '';
  let env: Record<string, string> = {};
  let running: ResultPromise | undefined;

  before(async function () {
    requireRoot(this);
    if ((await execa('which', ['ovsdb-server', 'ovs-vswitchd'], { reject: false })).exitCode !== 0) {
      console.warn('skipping: openvswitch-switch is not installed');
      this.skip();
    }
    dir = await mkdtemp(join(tmpdir(), `${TEST_DIR_PREFIX}ovs-`));
    env = { OVS_RUNDIR: join(dir, 'run'), OVS_DBDIR: join(dir, 'db'), OVS_LOGDIR: join(dir, 'log'), OVS_SYSCONFDIR: join(dir, 'etc') };
    await createNetns(ns);
  });
  after(async () => {
    running?.kill('SIGKILL');
    await deleteNetns(ns);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const inNs = (args: string[]) => ['netns', 'exec', ns, 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...args];
  const check = () => execa('ip', inNs([SCRIPT, 'check']), { reject: false });
  const vsctl = (args: string[]) => execa('ovs-vsctl', [`--db=unix:${env.OVS_RUNDIR}/db.sock`, '--timeout=5', ...args]);

  async function start(): Promise<void> {
    running = execa('ip', inNs([SCRIPT, 'start']), { reject: false, all: true });
    for (let i = 0; i < 200; i++) {
      if ((await check()).exitCode === 0) return;
      if (running.exitCode !== null && running.exitCode !== undefined) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    running.kill('SIGKILL');
    const result = await running;
    assert.fail(`loom-ovs did not become healthy:\n${result.all}`);
  }

  async function stop(): Promise<void> {
    running!.kill('SIGTERM');
    const result = await running!;
    running = undefined;
    assert.equal(result.exitCode, 0, `loom-ovs should exit 0 on SIGTERM:\n${result.all}`);
    assert.notEqual((await check()).exitCode, 0, 'daemons must be gone after stop');
  }

  it('starts a fresh database without flow-restore-wait and stops cleanly on SIGTERM', async () => {
    await start();
    const otherConfig = (await vsctl(['get', 'Open_vSwitch', '.', 'other_config'])).stdout;
    assert.doesNotMatch(otherConfig, /flow-restore-wait/);
    await vsctl(['--no-wait', 'add-br', 'br-loomt', '--', 'set', 'Bridge', 'br-loomt', 'datapath_type=dummy']);
    await stop();
  });

  it('sets flow-restore-wait=true when restarting on an existing database, keeping bridges', async () => {
    await start();
    assert.equal((await vsctl(['get', 'Open_vSwitch', '.', 'other_config:flow-restore-wait'])).stdout, '"true"');
    assert.match((await vsctl(['list-br'])).stdout, /^br-loomt$/m);
    // What the agent does once its flows are replayed:
    await vsctl(['remove', 'Open_vSwitch', '.', 'other_config', 'flow-restore-wait']);
    assert.doesNotMatch((await vsctl(['get', 'Open_vSwitch', '.', 'other_config'])).stdout, /flow-restore-wait/);
    await stop();
  });

  it('exits non-zero when a daemon dies', async () => {
    await start();
    await execa('ovs-appctl', ['-t', join(env.OVS_RUNDIR!, 'ovs-vswitchd.ctl'), 'exit']);
    const result = await running!;
    running = undefined;
    assert.equal(result.exitCode, 1, String(result.all));
    assert.match(String(result.all), /an OVS daemon exited/);
  });
});
