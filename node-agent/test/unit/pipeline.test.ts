import assert from 'node:assert/strict';
import { decodeCookie, CookieKind, makeCookie, objectSelector, roundSelector, withRound } from '../../src/pipeline/cookie.js';
import { flowIdentity, Table, type Flow } from '../../src/pipeline/flow.js';
import { baseFlows, podCookieId, podFlows } from '../../src/pipeline/pipeline.js';

const net = { gatewayOfport: 2, gatewayMac: '0a:00:00:00:00:01', gatewayIp: '10.244.1.1', podCidr: '10.244.1.0/24' };
const pod = { key: 'abc/eth0', ofport: 7, mac: '0a:58:0a:f4:01:05', ip: '10.244.1.5' };

describe('cookies', () => {
  it('round-trips round, kind and id and selects by round or object', () => {
    const c = makeCookie(3, CookieKind.Pod, 0xdeadbeef);
    assert.deepEqual(decodeCookie(c), { loom: true, round: 3, kind: CookieKind.Pod, id: 0xdeadbeef });
    const r = roundSelector(3);
    assert.equal(c & r.mask, r.cookie);
    assert.notEqual(withRound(c, 4) & r.mask, r.cookie);
    const o = objectSelector(CookieKind.Pod, 0xdeadbeef);
    assert.equal(withRound(c, 9) & o.mask, o.cookie);
    assert.equal(decodeCookie(0x1234n).loom, false);
  });
});

describe('pipeline', () => {
  it('has exactly one table-miss flow per table and unique flow identities', () => {
    const flows = [...baseFlows(net, 1), ...podFlows(net, pod, 1)];
    const ids = flows.map(flowIdentity);
    assert.equal(new Set(ids).size, ids.length);
    for (const t of Object.values(Table)) {
      const misses = flows.filter((f) => f.table === t && f.priority === 0 && Object.keys(f.match).length === 0);
      assert.equal(misses.length, 1, `table ${t} miss flows`);
    }
  });

  it('never uses NORMAL forwarding and every goto moves forward', () => {
    for (const f of [...baseFlows(net, 1), ...podFlows(net, pod, 1)]) {
      for (const a of f.actions) {
        if (a.type === 'goto') assert.ok(a.table > f.table, `goto ${a.table} from ${f.table}`);
        if (a.type === 'ct' && a.table !== undefined) assert.ok(a.table > f.table);
      }
    }
  });

  it('pod flows carry the pod cookie and enforce spoofguard on in_port + MAC + IP', () => {
    const flows = podFlows(net, pod, 5);
    for (const f of flows) {
      const d = decodeCookie(f.cookie);
      assert.equal(d.kind, CookieKind.Pod);
      assert.equal(d.id, podCookieId(pod.key));
      assert.equal(d.round, 5);
    }
    const guard = flows.filter((f) => f.table === Table.SpoofGuard);
    assert.equal(guard.length, 2);
    const ipGuard = guard.find((f) => f.match.protocol === 'ip') as Flow;
    assert.deepEqual(ipGuard.match, { inPort: 7, protocol: 'ip', dlSrc: pod.mac, nwSrc: pod.ip });
    const arpGuard = guard.find((f) => f.match.protocol === 'arp') as Flow;
    assert.equal(arpGuard.match.arpSpa, pod.ip);
    assert.equal(arpGuard.match.arpSha, pod.mac);
  });

  it('answers ARP for the gateway and each pod with their MACs', () => {
    const arp = [...baseFlows(net, 1), ...podFlows(net, pod, 1)].filter((f) => f.table === Table.ArpResponder && f.priority > 0);
    const answers = arp.map((f) => f.actions.find((a) => a.type === 'arpReply'));
    assert.deepEqual(answers, [
      { type: 'arpReply', mac: net.gatewayMac, ip: net.gatewayIp },
      { type: 'arpReply', mac: pod.mac, ip: pod.ip },
    ]);
  });

  it('delivers to the pod port through L2 forwarding', () => {
    const l2 = podFlows(net, pod, 1).find((f) => f.table === Table.L2Forwarding) as Flow;
    assert.equal(l2.match.dlDst, pod.mac);
    assert.deepEqual(l2.actions[0], { type: 'loadReg', reg: 1, value: 7 });
  });
});
