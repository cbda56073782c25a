// The setns window itself, in the test process: the main thread enters a loomt- netns only for the
// synchronous callback and is always back in its own netns afterwards, even when the callback throws.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeFileSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { createRtNetlink } from 'netlink';
import { isPodNetError } from '../../src/podnet/index.js';
import { disableTxChecksumOffload } from '../../src/podnet/ethtool.js';
import { closeFd, libc, openInetSocket, runInNetns, threadNetnsInode, type Libc } from '../../src/podnet/netns-switch.js';
import { createNetns, deleteNetns, requireRoot } from '../support/netns.js';

const run = randomBytes(3).toString('hex');
const podNs = `loomt-nsswitch-${run}`;
const podPath = `/var/run/netns/${podNs}`;

describe('podnet: setns window (integration, root)', function () {
  let lib: Libc;
  let podFd = -1;
  let podInode = 0;
  let ownInode = 0;

  before(async function () {
    requireRoot(this);
    const l = libc();
    if (!l) throw new Error('koffi did not load: the in-process pod setup is unavailable');
    lib = l;
    await createNetns(podNs);
    await execa('ip', ['-n', podNs, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0']);
    podFd = openSync(podPath, 'r');
    podInode = (await stat(podPath)).ino;
    ownInode = threadNetnsInode();
  });
  after(async () => {
    if (podFd >= 0) closeSync(podFd);
    await deleteNetns(podNs);
  });
  afterEach(() => {
    assert.equal(threadNetnsInode(), ownInode, 'the main thread must be back in its own netns');
  });

  it('runs the callback in the pod netns and returns its value; sockets opened there keep the pod netns', async () => {
    assert.notEqual(podInode, ownInode);
    const { inside, rtnl } = runInNetns(lib, podFd, podPath, () => ({ inside: threadNetnsInode(), rtnl: createRtNetlink() }));
    try {
      assert.equal(inside, podInode);
      assert.equal(threadNetnsInode(), ownInode);
      const names = (await rtnl.getLinks()).map((l) => l.attrs.ifname).sort();
      assert.deepEqual(names, ['eth0', 'lo', 'peer0']);
    } finally {
      rtnl.socket.close();
    }
  });

  it('switches back when the callback throws, and rethrows its error', () => {
    let inside = 0;
    assert.throws(() => runInNetns(lib, podFd, podPath, () => {
      inside = threadNetnsInode();
      throw new Error('boom inside the pod netns');
    }), /boom inside the pod netns/);
    assert.equal(inside, podInode);
    assert.equal(threadNetnsInode(), ownInode);
  });

  it('refuses an fd that is not a network namespace (NETNS_INVALID) without moving the thread', () => {
    const file = join(tmpdir(), `loomt-nsswitch-file-${run}`);
    writeFileSync(file, 'not a netns');
    const fd = openSync(file, 'r');
    try {
      let called = false;
      assert.throws(() => runInNetns(lib, fd, file, () => { called = true; }), (err: unknown) => isPodNetError(err, 'NETNS_INVALID') && err.message.includes(file));
      assert.equal(called, false);
    } finally {
      closeSync(fd);
      rmSync(file, { force: true });
    }
  });

  it('SIOCETHTOOL through a pod socket turns tx checksumming off, and names a missing interface', async () => {
    const fd = runInNetns(lib, podFd, podPath, () => openInetSocket(lib));
    try {
      disableTxChecksumOffload(lib, fd, 'eth0', podPath);
      const { stdout } = await execa('ip', ['netns', 'exec', podNs, 'ethtool', '-k', 'eth0']);
      assert.match(stdout, /^tx-checksumming: off$/m);
      assert.throws(() => disableTxChecksumOffload(lib, fd, 'nope0', podPath), (err: unknown) => isPodNetError(err, 'KERNEL_ERROR') && /nope0.*ENODEV/.test(err.message));
    } finally {
      closeFd(lib, fd);
    }
  });
});
