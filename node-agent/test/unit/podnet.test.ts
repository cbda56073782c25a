import assert from 'node:assert/strict';
import { hostVethName, randomMac, PodNetError, isPodNetError } from '../../src/podnet/index.js';
import { encodeVethLinkInfo, netlinkErrno, parseNlas } from '../../src/podnet/rtnl.js';
import { parsePodSideState, podIpBatch } from '../../src/podnet/podns.js';
import { sysctlPath } from '../../src/podnet/sysctl.js';
import { ETHTOOL_STXCSUM } from '../../src/podnet/ethtool.js';
import { libc, libcLoadError } from '../../src/podnet/netns-switch.js';
import { podSideSetupCounts, preparePodSide } from '../../src/podnet/podside.js';
import {
  inSubnet, validateCidr, validateGateway, validateIfname, validateMac, validateMtu, validateNetnsPath,
} from '../../src/podnet/validate.js';

function rejectsInvalid(fn: () => unknown, mentions: string): void {
  assert.throws(fn, (err: unknown) => isPodNetError(err, 'INVALID_ARGUMENT') && err.message.includes(mentions));
}

describe('podnet: hostVethName', () => {
  it('is "lm" + hex, 15 chars, deterministic, different per container and ifname', () => {
    const a = hostVethName('c0ffee' + '0'.repeat(58), 'eth0');
    assert.match(a, /^lm[0-9a-f]{13}$/);
    assert.equal(a, hostVethName('c0ffee' + '0'.repeat(58), 'eth0'));
    assert.notEqual(a, hostVethName('c0ffee' + '0'.repeat(58), 'eth1'));
    assert.notEqual(a, hostVethName('d0ffee' + '0'.repeat(58), 'eth0'));
  });
  it('rejects unsafe input', () => {
    rejectsInvalid(() => hostVethName('', 'eth0'), 'containerId');
    rejectsInvalid(() => hostVethName('abc def', 'eth0'), 'containerId');
    rejectsInvalid(() => hostVethName('abc', '-eth0'), 'ifname');
  });
});

describe('podnet: validation', () => {
  it('ifname: 1-15 safe characters, no option-looking or path-like names', () => {
    assert.equal(validateIfname('ifname', 'eth0'), 'eth0');
    assert.equal(validateIfname('ifname', 'net1.100'), 'net1.100');
    for (const bad of ['', '-x', 'a'.repeat(16), 'eth/0', 'eth 0', 'eth0\nlink del x', '..', 5]) rejectsInvalid(() => validateIfname('ifname', bad), 'ifname');
  });
  it('mtu: integer in 68..65535', () => {
    assert.equal(validateMtu('mtu', 68), 68);
    assert.equal(validateMtu('mtu', 65535), 65535);
    for (const bad of [67, 65536, 1450.5, '1450', NaN]) rejectsInvalid(() => validateMtu('mtu', bad), 'mtu');
  });
  it('mac: unicast, non-zero, lower-cased', () => {
    assert.equal(validateMac('podMac', '0A:58:0A:F4:01:05'), '0a:58:0a:f4:01:05');
    for (const bad of ['01:00:5e:00:00:01', '00:00:00:00:00:00', '0a:58:0a:f4:01', 'zz:58:0a:f4:01:05']) rejectsInvalid(() => validateMac('podMac', bad), 'podMac');
  });
  it('cidr: IPv4 host address with prefix 1..32', () => {
    assert.deepEqual(validateCidr('address', '10.244.1.5/24'), { ip: '10.244.1.5', prefixLength: 24 });
    assert.deepEqual(validateCidr('address', '10.244.1.5/32'), { ip: '10.244.1.5', prefixLength: 32 });
    for (const bad of ['10.244.1.5', '10.244.1.256/24', '10.244.1.0/24', '10.244.1.255/24', '10.244.1.5/33', '10.244.1.5/0', '010.1.1.1/24', 'fd00::1/64'])
      rejectsInvalid(() => validateCidr('address', bad), 'address');
  });
  it('gateway: inside the subnet and not the pod address', () => {
    const cidr = validateCidr('address', '10.244.1.5/24');
    assert.equal(validateGateway('gateway', '10.244.1.1', cidr), '10.244.1.1');
    assert.equal(inSubnet(cidr, '10.244.2.1'), false);
    rejectsInvalid(() => validateGateway('gateway', '10.244.2.1', cidr), 'gateway');
    rejectsInvalid(() => validateGateway('gateway', '10.244.1.5', cidr), 'gateway');
  });
  it('netns path: absolute and normalised', () => {
    assert.equal(validateNetnsPath('netnsPath', '/proc/42/ns/net'), '/proc/42/ns/net');
    for (const bad of ['', 'netns/x', '/var/run/netns/../x', '/var/run//netns/x', '/var/run/netns/x\n']) rejectsInvalid(() => validateNetnsPath('netnsPath', bad), 'netnsPath');
  });
  it('errors are typed PodNetErrors', () => {
    try { validateMtu('mtu', 1); assert.fail('no error'); } catch (err) {
      assert.ok(err instanceof PodNetError);
      assert.equal(err.code, 'INVALID_ARGUMENT');
    }
  });
});

describe('podnet: encodings', () => {
  it('randomMac is unicast and locally administered', () => {
    for (let i = 0; i < 20; i++) {
      const mac = randomMac();
      assert.equal(validateMac('mac', mac), mac);
      assert.equal(parseInt(mac.slice(0, 2), 16) & 0x03, 0x02);
    }
  });
  it('veth linkinfo carries kind "veth" and the peer name, MTU, MAC and netns fd', () => {
    const info = parseNlas(encodeVethLinkInfo({ ifname: 'eth0', mtu: 1450, mac: '0a:58:0a:f4:01:05', netnsFd: 17 }));
    assert.equal(info.get(1)?.toString(), 'veth\0');
    const peerMsg = parseNlas(info.get(2)!).get(1)!;
    const peer = parseNlas(peerMsg.subarray(16)); // after struct ifinfomsg
    assert.equal(peer.get(3)?.toString(), 'eth0\0');
    assert.equal(peer.get(4)?.readUInt32LE(0), 1450);
    assert.equal(peer.get(1)?.toString('hex'), '0a580af40105');
    assert.equal(peer.get(28)?.readUInt32LE(0), 17);
  });
  it('netlinkErrno extracts the errno name', () => {
    assert.equal(netlinkErrno(new Error('Request rejected: EEXIST')), 'EEXIST');
    assert.equal(netlinkErrno(new Error('something else')), undefined);
  });
  it('pod ip batch: up, address, default route, nothing about lo', () => {
    const batch = podIpBatch({ ifname: 'eth0', address: '10.244.1.5/24', gateway: '10.244.1.1' });
    assert.deepEqual(batch.trim().split('\n'), [
      'link set dev eth0 up', 'address add 10.244.1.5/24 dev eth0', 'route add default via 10.244.1.1 dev eth0',
    ]);
    assert.ok(!batch.includes(' lo'));
  });
  it('sysctl paths are per interface and refuse unsafe names', () => {
    assert.equal(sysctlPath('ipv4', 'lm0123', 'arp_ignore'), '/proc/sys/net/ipv4/conf/lm0123/arp_ignore');
    rejectsInvalid(() => sysctlPath('ipv4', '../all', 'forwarding'), 'ifname');
  });
  it('parses ip -j output of the pod side, with and without the interface', () => {
    const routes = '[{"dst":"default","gateway":"10.244.1.1","dev":"eth0","flags":[]}]';
    const addr = '[{"ifname":"eth0","flags":["BROADCAST","UP"],"mtu":1450,"address":"0a:58:0a:f4:01:05","addr_info":[{"family":"inet","local":"10.244.1.5","prefixlen":24},{"family":"inet6","local":"fe80::1","prefixlen":64}]}]';
    assert.deepEqual(parsePodSideState(`${routes}\n${addr}\n`), {
      defaultRoutes: [{ gateway: '10.244.1.1', dev: 'eth0' }],
      link: { mtu: 1450, mac: '0a:58:0a:f4:01:05', up: true, ipv4: ['10.244.1.5/24'] },
    });
    assert.deepEqual(parsePodSideState('[]\n'), { defaultRoutes: [] });
  });
});

describe('podnet: in-process pod setup (koffi)', () => {
  it('koffi and libc load here, so the fast path is available', function () {
    if (process.env.LOOM_PODNET_FFI === 'off') this.skip();
    assert.equal(libcLoadError(), undefined);
    const c = libc();
    assert.ok(c);
    assert.equal(c.close(-1), -1);
    assert.equal(c.lastError(), 'EBADF');
    assert.deepEqual(preparePodSide(), { inProcess: true });
  });
  it('uses ETHTOOL_STXCSUM (0x17); setup counts are a snapshot callers cannot alter', () => {
    assert.equal(ETHTOOL_STXCSUM, 0x17);
    const counts = podSideSetupCounts();
    assert.deepEqual(Object.keys(counts).sort(), ['inProcess', 'spawnFallback']);
    counts.spawnFallback += 100;
    assert.notEqual(podSideSetupCounts().spawnFallback, counts.spawnFallback);
  });
});
