import assert from 'node:assert/strict';
import { Table, type Flow } from '../../src/pipeline/flow.js';
import { makeCookie, CookieKind } from '../../src/pipeline/cookie.js';
import {
  DEFAULT_PRIORITY,
  flowKey,
  installedFlowKey,
  parseDumpFlows,
  parseFlowLine,
  renderActions,
  renderCookieSelector,
  renderFlow,
  renderMatch,
} from '../../src/ovs/flow-syntax.js';

const cookie = makeCookie(1, CookieKind.Pod, 7);

describe('flow-syntax: rendering matches', () => {
  it('renders every field in the order OVS prints them, whatever the input order', () => {
    const m = renderMatch({
      tpDst: { port: 80 },
      tpSrc: { port: 0x100, mask: 0xff00 },
      nwDst: '10.1.2.3/16',
      nwSrc: '10.0.0.5/32',
      dlDst: 'AA:BB:CC:DD:EE:02',
      dlSrc: 'aa:bb:cc:dd:ee:01',
      inPort: 3,
      regs: [{ reg: 1, value: 7 }, { reg: 0, value: 2, bits: [4, 7] }],
      tunSrc: '1.2.3.4',
      tunId: 9,
      ctLabel: { value: 5n },
      ctState: '+trk+est',
      protocol: 'tcp',
    });
    assert.equal(
      m,
      'ct_state=+est+trk,ct_label=0x5,tcp,reg0=0x20/0xf0,reg1=0x7,tun_id=0x9,tun_src=1.2.3.4,in_port=3,' +
        'dl_src=aa:bb:cc:dd:ee:01,dl_dst=aa:bb:cc:dd:ee:02,nw_src=10.0.0.5,nw_dst=10.1.0.0/16,tp_src=0x100/0xff00,tp_dst=80',
    );
  });

  it('renders ARP fields and conj_id in OVS order', () => {
    assert.equal(
      renderMatch({ protocol: 'arp', arpSha: 'aa:bb:cc:dd:ee:03', arpOp: 2, arpTpa: '10.0.0.2', arpSpa: '10.0.0.0/8', conjId: 5, ctState: '-trk' }),
      'conj_id=5,ct_state=-trk,arp,arp_spa=10.0.0.0/8,arp_tpa=10.0.0.2,arp_op=2,arp_sha=aa:bb:cc:dd:ee:03',
    );
  });

  it('merges bit ranges of one register and drops match-all values', () => {
    assert.equal(renderMatch({ regs: [{ reg: 0, value: 1, bits: [0, 3] }, { reg: 0, value: 3, bits: [4, 5] }] }), 'reg0=0x31/0x3f');
    assert.equal(renderMatch({ regs: [{ reg: 2, value: 0xffffffff, bits: [0, 31] }] }), 'reg2=0xffffffff');
    assert.equal(renderMatch({ protocol: 'ip', nwSrc: '0.0.0.0/0' }), 'ip');
    assert.equal(renderMatch({ protocol: 'udp', tpDst: { port: 53, mask: 0xffff } }), 'udp,tp_dst=53');
    assert.equal(renderMatch({ ctLabel: { value: 0x1ffn, mask: 0xffn } }), 'ct_label=0xff/0xff');
    assert.equal(renderMatch({}), '');
  });

  const bad: Array<[string, () => unknown, RegExp]> = [
    ['IP with an octet > 255', () => renderMatch({ protocol: 'ip', nwSrc: '300.1.1.1' }), /nw_src/],
    ['CIDR prefix > 32', () => renderMatch({ protocol: 'ip', nwDst: '10.0.0.0/33' }), /nw_dst/],
    ['malformed MAC', () => renderMatch({ dlSrc: 'aa:bb:cc:dd:ee' }), /dl_src/],
    ['port 0 as in_port', () => renderMatch({ inPort: 0 }), /in_port/],
    ['register 16', () => renderMatch({ regs: [{ reg: 16, value: 1 }] }), /register/],
    ['value wider than its bits', () => renderMatch({ regs: [{ reg: 0, value: 16, bits: [0, 3] }] }), /reg0 value/],
    ['overlapping register bits', () => renderMatch({ regs: [{ reg: 0, value: 1, bits: [0, 3] }, { reg: 0, value: 1, bits: [3, 4] }] }), /overlap/],
    ['nw_src without IP protocol', () => renderMatch({ nwSrc: '10.0.0.1' }), /prerequisite/],
    ['arp_tpa with ip', () => renderMatch({ protocol: 'ip', arpTpa: '10.0.0.1' }), /prerequisite/],
    ['tp_dst with icmp', () => renderMatch({ protocol: 'icmp', tpDst: { port: 1 } }), /prerequisite/],
    ['tp_dst > 65535', () => renderMatch({ protocol: 'tcp', tpDst: { port: 70000 } }), /tp_dst/],
    ['unknown ct_state flag', () => renderMatch({ ctState: '+foo' }), /ct_state flag/],
    ['ct_state syntax', () => renderMatch({ ctState: 'new' }), /ct_state/],
  ];
  for (const [name, fn, re] of bad) {
    it(`rejects ${name}`, () => assert.throws(fn, re));
  }
});

describe('flow-syntax: rendering actions and flows', () => {
  it('renders a full flow with cookie and goto', () => {
    const f: Flow = { table: Table.SpoofGuard, priority: 200, cookie, match: { protocol: 'ip', inPort: 5 }, actions: [{ type: 'goto', table: Table.Conntrack }] };
    assert.equal(renderFlow(f), `table=10,priority=200,cookie=0x4c4d010200000007,ip,in_port=5 actions=goto_table:20`);
  });

  it('renders a match-all flow and an empty action list as drop', () => {
    assert.equal(renderFlow({ table: 65, priority: 0, cookie: 0n, match: {}, actions: [] }), 'table=65,priority=0,cookie=0x0 actions=drop');
  });

  it('renders every action type in OVS canonical form', () => {
    assert.equal(
      renderActions([
        { type: 'loadReg', reg: 0, value: 1, bits: [0, 3] },
        { type: 'loadReg', reg: 2, value: 7 },
        { type: 'setField', field: 'eth_dst', value: 'AA:BB:CC:DD:EE:FF' },
        { type: 'setField', field: 'tun_dst', value: '192.168.1.2' },
        { type: 'setField', field: 'tun_id', value: '16' },
        { type: 'decTtl' },
        { type: 'move', src: 'NXM_NX_REG2[]', dst: 'NXM_NX_CT_LABEL[0..31]' },
        { type: 'output', port: 5 },
        { type: 'outputReg', reg: 1 },
        { type: 'inPort' },
      ]),
      'set_field:0x1/0xf->reg0,set_field:0x7->reg2,set_field:aa:bb:cc:dd:ee:ff->eth_dst,set_field:192.168.1.2->tun_dst,' +
        'set_field:0x10->tun_id,dec_ttl,move:NXM_NX_REG2[]->NXM_NX_CT_LABEL[0..31],output:5,output:NXM_NX_REG1[],IN_PORT',
    );
    assert.equal(renderActions([{ type: 'conjunction', id: 7, clause: 1, nClauses: 3 }]), 'conjunction(7,1/3)');
    assert.equal(renderActions([{ type: 'ct', zone: 65520, table: 21 }]), 'ct(table=21,zone=65520)');
    assert.equal(
      renderActions([{ type: 'ct', zone: 65520, commit: true, table: 80, execMoves: [{ src: 'NXM_NX_REG2[]', dst: 'NXM_NX_CT_LABEL[0..31]' }] }]),
      'ct(commit,table=80,zone=65520,exec(move:NXM_NX_REG2[]->NXM_NX_CT_LABEL[0..31]))',
    );
  });

  it('renders the ARP responder as an in-place reply', () => {
    assert.equal(
      renderActions([{ type: 'arpReply', mac: 'aa:bb:cc:dd:ee:ff', ip: '10.0.0.1' }]),
      'move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:aa:bb:cc:dd:ee:ff->eth_src,set_field:2->arp_op,' +
        'move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],set_field:aa:bb:cc:dd:ee:ff->arp_sha,' +
        'move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:10.0.0.1->arp_spa,IN_PORT',
    );
  });

  const bad: Array<[string, () => unknown, RegExp]> = [
    ['goto backwards', () => renderFlow({ table: 40, priority: 1, cookie: 0n, match: {}, actions: [{ type: 'goto', table: 20 }] }), /goto table/],
    ['table 255', () => renderFlow({ table: 255, priority: 1, cookie: 0n, match: {}, actions: [] }), /flow table/],
    ['priority 70000', () => renderFlow({ table: 0, priority: 70000, cookie: 0n, match: {}, actions: [] }), /priority/],
    ['cookie wider than 64 bits', () => renderFlow({ table: 0, priority: 1, cookie: 1n << 64n, match: {}, actions: [] }), /cookie/],
    ['drop with other actions', () => renderActions([{ type: 'drop' }, { type: 'output', port: 1 }]), /drop/],
    ['conjunction mixed with output', () => renderActions([{ type: 'conjunction', id: 1, clause: 1, nClauses: 2 }, { type: 'output', port: 1 }]), /conjunction actions alone/],
    ['output to a reserved port', () => renderActions([{ type: 'output', port: 0xfffe }]), /output port/],
    ['clause beyond n', () => renderActions([{ type: 'conjunction', id: 1, clause: 4, nClauses: 3 }]), /clause/],
    ['bad tun_dst', () => renderActions([{ type: 'setField', field: 'tun_dst', value: '1.2.3' }]), /tun_dst/],
    ['bad move field', () => renderActions([{ type: 'move', src: 'reg2; rm', dst: 'NXM_NX_REG1[]' }]), /move source/],
    ['ct zone > 65535', () => renderActions([{ type: 'ct', zone: 70000 }]), /ct zone/],
    ['arp reply with bad ip', () => renderActions([{ type: 'arpReply', mac: 'aa:bb:cc:dd:ee:ff', ip: '10.0.0.256' }]), /arp reply ip/],
    ['cookie selector with bits outside the mask', () => renderCookieSelector(0x1_0000n, 0xffffn), /cookie/],
  ];
  for (const [name, fn, re] of bad) {
    it(`rejects ${name}`, () => assert.throws(fn, re));
  }
});

describe('flow-syntax: keys and parsing', () => {
  it('gives equal keys to equal matches written differently', () => {
    const a = flowKey({ table: 10, priority: 200, match: { inPort: 3, protocol: 'ip', nwSrc: '10.0.0.5/32' } });
    const b = flowKey({ table: 10, priority: 200, match: { protocol: 'ip', nwSrc: '10.0.0.5', inPort: 3 } });
    assert.equal(a, b);
    assert.notEqual(a, flowKey({ table: 10, priority: 201, match: { protocol: 'ip', nwSrc: '10.0.0.5', inPort: 3 } }));
  });

  it('parses a --no-stats line', () => {
    const f = parseFlowLine(' cookie=0x4c4d010200000003, table=10, priority=200,ip,reg0=0x1/0xf,in_port=5 actions=set_field:0x1/0xf->reg0,goto_table:20');
    assert.deepEqual(f, {
      cookie: 0x4c4d010200000003n,
      table: 10,
      priority: 200,
      match: 'ip,reg0=0x1/0xf,in_port=5',
      actions: 'set_field:0x1/0xf->reg0,goto_table:20',
    });
  });

  it('parses lines with statistics, default table, priority and cookie', () => {
    const flows = parseDumpFlows(
      [
        'OFPST_FLOW reply (OF1.5) (xid=0x6):',
        ' cookie=0x3, duration=0.075s, table=2, n_packets=4, n_bytes=392, idle_age=0, actions=drop',
        ' cookie=0x4, duration=1.5s, table=2, n_packets=0, n_bytes=0, idle_timeout=10, idle_age=0, priority=0,icmp actions=drop',
        ' priority=1,ip actions=drop',
        ' table=9, priority=1,ip,nw_src=10.0.0.0/8 actions=ct(commit,table=3,zone=1,exec(set_field:0x1->ct_label)),resubmit(,4)',
        '',
      ].join('\n'),
    );
    assert.deepEqual(flows, [
      { cookie: 3n, table: 2, priority: DEFAULT_PRIORITY, match: '', actions: 'drop', nPackets: 4, nBytes: 392 },
      { cookie: 4n, table: 2, priority: 0, match: 'icmp', actions: 'drop', nPackets: 0, nBytes: 0 },
      { cookie: 0n, table: 0, priority: 1, match: 'ip', actions: 'drop' },
      { cookie: 0n, table: 9, priority: 1, match: 'ip,nw_src=10.0.0.0/8', actions: 'ct(commit,table=3,zone=1,exec(set_field:0x1->ct_label)),resubmit(,4)' },
    ]);
  });

  it('gives a parsed flow the same key as the rendered one', () => {
    const f: Flow = { table: 10, priority: 200, cookie, match: { protocol: 'ip', inPort: 5, regs: [{ reg: 0, value: 1, bits: [0, 3] }] }, actions: [] };
    const line = ` cookie=0x4c4d010200000007, table=10, priority=200,${renderMatch(f.match)} actions=drop`;
    const parsed = parseFlowLine(line);
    assert.ok(parsed);
    assert.equal(installedFlowKey(parsed), flowKey(f));
  });

  it('returns null for non-flow lines and throws on garbage', () => {
    assert.equal(parseFlowLine('OFPST_FLOW reply (OF1.5) (xid=0x2):'), null);
    assert.equal(parseFlowLine('   '), null);
    assert.throws(() => parseFlowLine(' cookie=0x1, weird stuff, ip actions=drop'), /cannot parse/);
  });
});
