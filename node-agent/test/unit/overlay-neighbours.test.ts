// Tunnel next-hop neighbours (userspace datapath): which kernel neighbour entries the agent keeps on
// br-phy, and which MACs it hands to OVS, so that OVS knows the VTEP MAC before the first packet to a
// node (issue 8).
import assert from 'node:assert/strict';
import {
  planTunnelNeighbours,
  TUNNEL_NEIGH_PROTOCOL,
  tunnelNeighbourSeeds,
  tunnelNextHop,
  tunnelNextHops,
  type IpNeighJson,
  type IpRouteJson,
} from '../../src/agent/overlay.js';

// What `ip -j route show dev br-phy` prints on a node of the e2e harness, plus a routed remote site.
const ROUTES: IpRouteJson[] = [
  { dst: 'default', gateway: '10.0.0.1' },
  { dst: '10.0.0.0/24' },
  { dst: '192.168.50.0/24', gateway: '10.0.0.254' },
  { dst: '192.168.50.7', gateway: '10.0.0.253' },
];
const P = String(TUNNEL_NEIGH_PROTOCOL);
const hops = (...ips: string[]) => new Set(ips);

describe('tunnel next hops', () => {
  it('on-link peer: the peer itself; routed peer: the gateway of the longest matching route', () => {
    assert.equal(tunnelNextHop('10.0.0.12', ROUTES), '10.0.0.12');
    assert.equal(tunnelNextHop('192.168.50.9', ROUTES), '10.0.0.254');
    assert.equal(tunnelNextHop('192.168.50.7', ROUTES), '10.0.0.253', 'a host route beats its /24');
    assert.equal(tunnelNextHop('172.16.0.1', ROUTES), '10.0.0.1', 'only the default route matches');
  });

  it('no route through the interface, a non-unicast route or an invalid address: no next hop', () => {
    assert.equal(tunnelNextHop('10.0.0.12', [{ dst: '192.168.0.0/16' }]), undefined);
    assert.equal(tunnelNextHop('10.0.0.12', [{ dst: '10.0.0.0/24', type: 'blackhole' }]), undefined);
    assert.equal(tunnelNextHop('10.0.0.300', ROUTES), undefined);
    assert.equal(tunnelNextHop('10.0.0.12', [{ dst: '10.0.0.0/24', gateway: 'fe80::1' }]), undefined, 'an IPv6 gateway is not a usable IPv4 next hop');
  });

  it('peers behind one gateway share one next hop', () => {
    assert.deepEqual([...tunnelNextHops(['10.0.0.12', '10.0.0.13', '192.168.50.1', '192.168.50.2', '8.8.8.8'], ROUTES)], ['10.0.0.12', '10.0.0.13', '10.0.0.254', '10.0.0.1']);
  });
});

describe('planTunnelNeighbours', () => {
  it('adds one managed entry per next hop, tagged with Loom\'s protocol', () => {
    assert.deepEqual(planTunnelNeighbours('br-phy', hops('10.0.0.12', '10.0.0.254'), []), [
      `neigh replace 10.0.0.12 dev br-phy managed protocol ${P}`,
      `neigh replace 10.0.0.254 dev br-phy managed protocol ${P}`,
    ]);
  });

  it('nothing to do when every next hop already has our managed entry (the restart case)', () => {
    const have: IpNeighJson[] = [{ dst: '10.0.0.12', lladdr: '02:00:00:00:00:12', managed: null, protocol: P }, { dst: '10.0.0.2' }];
    assert.deepEqual(planTunnelNeighbours('br-phy', hops('10.0.0.12'), have), []);
  });

  it('recreates a next hop\'s entry that is not ours (learned from the peer\'s ARP request: OVS never saw a reply); leaves other entries alone', () => {
    const have: IpNeighJson[] = [{ dst: '10.0.0.12' }, { dst: '10.0.0.13', managed: null }, { dst: '10.0.0.2' }, { dst: '10.0.0.40', managed: null, protocol: 'static' }];
    assert.deepEqual(planTunnelNeighbours('br-phy', hops('10.0.0.12', '10.0.0.13'), have), [
      'neigh del 10.0.0.12 dev br-phy',
      `neigh replace 10.0.0.12 dev br-phy managed protocol ${P}`,
      'neigh del 10.0.0.13 dev br-phy',
      `neigh replace 10.0.0.13 dev br-phy managed protocol ${P}`,
    ]);
  });

  it('deletes our entries no peer needs any more (node removed), never others\' entries', () => {
    const have: IpNeighJson[] = [
      { dst: '10.0.0.12', managed: null, protocol: P },
      { dst: '10.0.0.13', managed: null, protocol: P },
      { dst: '10.0.0.14', managed: null, protocol: 'static' },
    ];
    assert.deepEqual(planTunnelNeighbours('br-phy', hops('10.0.0.12'), have), ['neigh del 10.0.0.13 dev br-phy']);
    assert.deepEqual(planTunnelNeighbours('br-phy', hops(), have), ['neigh del 10.0.0.12 dev br-phy', 'neigh del 10.0.0.13 dev br-phy']);
  });

  it('refuses a device name that would inject ip -batch syntax', () => {
    assert.throws(() => planTunnelNeighbours('br-phy\nlink del eth0', hops('10.0.0.12'), []), /tunnel neighbour device/);
  });
});

describe('tunnelNeighbourSeeds', () => {
  // `ovs-appctl tnl/neigh/show` as OVS 3.1 prints it
  const show = (rows: string[]) => ['IP                                            MAC                 Bridge', '='.repeat(74), ...rows].join('\n');
  const row = (ip: string, mac: string, bridge = 'br-phy', stale = false) => `${ip.padEnd(46)}${mac}   ${bridge}${stale ? ' STALE' : ''}`;
  const kernel: IpNeighJson[] = [
    { dst: '10.0.0.12', lladdr: '02:00:00:00:00:12', managed: null, protocol: P },
    { dst: '10.0.0.13', lladdr: '02:00:00:00:00:13', managed: null, protocol: P },
    { dst: '10.0.0.14', managed: null, protocol: P }, // not resolved yet
  ];

  it('hands OVS the resolved next hops it does not know, or knows with another MAC or expired', () => {
    const ovs = show([row('10.0.0.2', '02:00:00:00:00:02'), row('10.0.0.12', '02:00:00:00:00:99'), row('10.0.0.13', '02:00:00:00:00:13', 'br-phy', true)]);
    assert.deepEqual(tunnelNeighbourSeeds('br-phy', hops('10.0.0.12', '10.0.0.13', '10.0.0.14'), kernel, ovs), [
      { ip: '10.0.0.12', mac: '02:00:00:00:00:12' },
      { ip: '10.0.0.13', mac: '02:00:00:00:00:13' },
    ]);
  });

  it('nothing when OVS already has every resolved next hop (the restart case); an entry of another bridge does not count', () => {
    const ovs = show([row('10.0.0.12', '02:00:00:00:00:12'), row('10.0.0.13', '02:00:00:00:00:13')]);
    assert.deepEqual(tunnelNeighbourSeeds('br-phy', hops('10.0.0.12', '10.0.0.13', '10.0.0.14'), kernel, ovs), []);
    const other = show([row('10.0.0.12', '02:00:00:00:00:12', 'br-other')]);
    assert.deepEqual(tunnelNeighbourSeeds('br-phy', hops('10.0.0.12'), kernel, other), [{ ip: '10.0.0.12', mac: '02:00:00:00:00:12' }]);
  });

  it('ignores kernel entries that are not next hops or carry no usable MAC', () => {
    const odd: IpNeighJson[] = [{ dst: '10.0.0.12', lladdr: '00:00:00:00:00:00' }, { dst: '10.0.0.13', lladdr: 'bogus' }, { dst: '10.0.0.2', lladdr: '02:00:00:00:00:02' }];
    assert.deepEqual(tunnelNeighbourSeeds('br-phy', hops('10.0.0.12', '10.0.0.13'), odd, show([])), []);
  });
});
