// The native OpenFlow 1.5 encoder against two oracles that need no switch:
//   - `ovs-ofctl ofp-print <hex>` decodes each message; its text must contain exactly the match and
//     actions flow-syntax renders for the same flow;
//   - `ovs-ofctl -O OpenFlow15 bundle` run against a fake switch (test/support/fake-ofswitch.ts): the
//     FLOW_MODs it sends for the rendered text must be byte-identical to ours.
// Both skip when ovs-ofctl is not installed. Plus byte layouts, error names, validation parity.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Flow } from '../../src/pipeline/flow.js';
import { renderActions, renderCookie, renderMatch } from '../../src/ovs/flow-syntax.js';
import { renderBundle, type FlowOp } from '../../src/ovs/ofctl.js';
import { encodeInstructions } from '../../src/ovs/openflow/actions.js';
import { parseDumpedMatch } from '../../src/ovs/openflow/match-text.js';
import {
  OFPBCT,
  OFPT,
  decodeError,
  decodeHeader,
  encodeBarrierRequest,
  encodeBundleAdd,
  encodeBundleControl,
  encodeFlowMod,
  encodeHello,
  errorName,
  helloVersions,
  type NativeFlowOp,
} from '../../src/ovs/openflow/messages.js';
import { NotNativelyEncodable, encodeMatch } from '../../src/ovs/openflow/oxm.js';
import { FakeOfSwitch, errorMessage, ofctlBundleAgainst } from '../support/fake-ofswitch.js';
import { builderFlows, edgeFlows, policyFlows, representativeFlows, syntaxFlows } from '../support/representative-flows.js';

async function hasOfctl(): Promise<boolean> {
  const r = await execa('ovs-ofctl', ['--version'], { reject: false });
  return r.exitCode === 0;
}

async function ofpPrint(msg: Buffer): Promise<string> {
  const r = await execa('ovs-ofctl', ['ofp-print', msg.toString('hex')], { reject: false });
  if (r.exitCode !== 0) throw new Error(`ofp-print failed: ${r.stderr}`);
  return r.stdout;
}

/** Decodes many messages with one `ovs-ofctl ofp-parse FILE`; returns each message's first line, in order. */
async function ofpParse(msgs: Buffer[]): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'loomt-ofp-parse-'));
  try {
    const file = join(dir, 'msgs.bin');
    await writeFile(file, Buffer.concat(msgs));
    const r = await execa('ovs-ofctl', ['ofp-parse', file], { reject: false });
    if (r.exitCode !== 0) throw new Error(`ofp-parse failed: ${r.stderr}`);
    const heads = r.stdout.split('\n').filter((l) => l.startsWith('OFPT_'));
    assert.equal(heads.length, msgs.length, 'one decoded message per encoded one');
    return heads;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const add = (flow: Flow) => ({ op: 'add' as const, flow });

describe('native OpenFlow 1.5 encoding: byte layouts', () => {
  it('HELLO offers exactly OpenFlow 1.5 in a version bitmap', () => {
    const hello = encodeHello(5);
    assert.equal(hello.toString('hex'), '06000010' + '00000005' + '00010008' + '00000040');
    assert.deepEqual([...helloVersions(hello)], [6]);
    // A HELLO without elements offers every version up to its header's.
    assert.deepEqual([...helloVersions(Buffer.from('0400000800000001', 'hex'))], [1, 2, 3, 4]);
  });

  it('BUNDLE_CONTROL, BUNDLE_ADD_MESSAGE and BARRIER', () => {
    assert.equal(encodeBundleControl(7, 42, OFPBCT.OPEN_REQUEST, 3).toString('hex'), '0621001000000007' + '0000002a' + '0000' + '0003');
    assert.equal(encodeBarrierRequest(0xdeadbeef).toString('hex'), '06140008deadbeef');
    const inner = encodeFlowMod(9, { op: 'delete', cookie: 0n, mask: 0n });
    const wrapped = encodeBundleAdd(42, 3, inner);
    assert.equal(wrapped.length, 16 + inner.length);
    assert.deepEqual(decodeHeader(wrapped), { version: 6, type: OFPT.BUNDLE_ADD_MESSAGE, length: 16 + inner.length, xid: 9 });
    assert.equal(wrapped.subarray(8, 16).toString('hex'), '0000002a' + '0000' + '0003');
    assert.ok(wrapped.subarray(16).equals(inner));
  });

  it('FLOW_MOD: header fields, NO_BUFFER/ANY, OXM match padded to 8, instructions', () => {
    const msg = encodeFlowMod(1, add({ table: 10, priority: 200, cookie: 0x4c4d000100000002n, match: { inPort: 3 }, actions: [{ type: 'output', port: 4 }] }));
    assert.equal(msg.length % 8, 0);
    const hex = msg.toString('hex');
    assert.equal(hex.slice(0, 16), `060e${msg.length.toString(16).padStart(4, '0')}00000001`);
    assert.equal(hex.slice(16, 48), '4c4d000100000002' + '0000000000000000', 'cookie, cookie_mask');
    assert.equal(hex.slice(48, 64), '0a' + '00' + '0000' + '0000' + '00c8', 'table, ADD, timeouts, priority');
    assert.equal(hex.slice(64, 96), 'ffffffff'.repeat(3) + '0000' + '0000', 'buffer, out_port, out_group, flags, importance');
    assert.equal(hex.slice(96, 128), '0001000c' + '80000004' + '00000003' + '00000000', 'OXM match: in_port=3, padded');
    assert.equal(hex.slice(128), '00040018' + '00000000' + '00000010' + '00000004' + '0000' + '000000000000', 'APPLY_ACTIONS(output:4)');
    assert.equal(encodeMatch({}).toString('hex'), '0001000400000000', 'empty match');
    assert.equal(encodeInstructions([{ type: 'drop' }]).length, 0, 'drop = no instruction');
    assert.equal(encodeInstructions([]).length, 0, 'no action = no instruction');
    assert.equal(encodeInstructions([{ type: 'goto', table: 20 }], 10).toString('hex'), '0001000814000000', 'only GOTO_TABLE');
  });

  it('decodes ERROR: names, xid, and the header of the failed request', () => {
    const failed = encodeFlowMod(0x42, add({ table: 1, priority: 1, cookie: 1n, match: {}, actions: [] }));
    const e = decodeError(errorMessage(0x42, 2, 15, failed));
    assert.equal(e.xid, 0x42);
    assert.equal(e.name, 'OFPBAC_BAD_SET_ARGUMENT');
    assert.equal(e.typeName, 'BAD_ACTION');
    assert.equal(e.failed?.type, OFPT.FLOW_MOD);
    assert.match(e.hint ?? '', /ct_label outside ct exec/);
    const nx = Buffer.from('06010014000000ffffff000f0000232000000000', 'hex');
    assert.equal(decodeError(nx).name, 'NXBAC_BAD_CONJUNCTION');
    assert.equal(decodeError(nx).experimenter, 0x2320);
    assert.equal(errorName(99, 1).name, 'error type 99 code 1');
  });
});

describe('native OpenFlow 1.5 encoding against ovs-ofctl', function () {
  this.timeout(120000);
  before(async function () {
    if (!(await hasOfctl())) {
      console.warn('skipping: ovs-ofctl is not installed');
      this.skip();
    }
  });

  it('ofp-print decodes every representative flow to exactly the rendered match, cookie and actions', async () => {
    const flows = [...syntaxFlows(1), ...builderFlows(1), ...policyFlows(1), ...edgeFlows(1)];
    assert.ok(flows.length > 80, `${flows.length} flows`);
    const printed = await ofpParse(flows.map((f, i) => encodeFlowMod(i + 1, add(f))));
    flows.forEach((f, i) => {
      const match = renderMatch(f.match);
      // ofp-print leaves out table 0 (the default)
      const want = `ADD ${f.table === 0 ? '' : `table:${f.table} `}priority=${f.priority}${match === '' ? '' : `,${match}`} cookie:${renderCookie(f.cookie)} actions=${renderActions(f.actions, f.table)}`;
      assert.equal(printed[i], `OFPT_FLOW_MOD (OF1.5) (xid=0x${(i + 1).toString(16)}): ${want}`);
    });
  });

  it('ofp-print decodes modify, deleteStrict and delete as ovs-ofctl means them', async () => {
    const f = syntaxFlows(1)[1]!;
    assert.match(await ofpPrint(encodeFlowMod(1, { op: 'modify', flow: f })), new RegExp(`MOD_STRICT table:10 priority=200,${renderMatch(f.match).replace(/[.+]/g, '\\$&')} actions=`));
    assert.match(await ofpPrint(encodeFlowMod(2, { op: 'deleteStrict', table: 10, priority: 200, match: f.match })), /DEL_STRICT table:10 priority=200,ip,reg0=0x1\/0xf,in_port=5,/);
    assert.match(await ofpPrint(encodeFlowMod(3, { op: 'delete', cookie: 0x4c4d000000000000n, mask: 0xffff000000000000n })), /DEL table:255 cookie:0x4c4d000000000000\/0xffff000000000000 actions=drop/);
    assert.match(await ofpPrint(encodeFlowMod(4, { op: 'delete', cookie: 5n, mask: 0xffn, table: 30 })), /DEL table:30 cookie:0x5\/0xff actions=drop/);
  });

  it('sends byte-identical FLOW_MODs to what `ovs-ofctl -O OpenFlow15 bundle` sends for the rendered text', async () => {
    const flows = representativeFlows(3);
    const ops: FlowOp[] = [
      ...flows.map(add),
      ...flows.slice(0, 20).map((flow): FlowOp => ({ op: 'modify', flow })),
      ...flows.slice(20, 40).map((f): FlowOp => ({ op: 'deleteStrict', table: f.table, priority: f.priority, match: f.match })),
      { op: 'delete', cookie: 0x4c4d_0300_0000_0000n, mask: 0xffff_ff00_0000_0000n },
      { op: 'delete', cookie: 0x4c4d_0000_0000_0000n, mask: 0xffff_0000_0000_0000n, table: 30 },
    ];
    const sw = await FakeOfSwitch.start();
    try {
      await ofctlBundleAgainst(sw, renderBundle(ops));
      const [theirs] = sw.committed;
      assert.equal(theirs?.length, ops.length);
      let identical = 0;
      ops.forEach((op, i) => {
        const captured = theirs![i]!;
        const mine = encodeFlowMod(decodeHeader(captured).xid, op as NativeFlowOp);
        assert.equal(mine.toString('hex'), captured.toString('hex'), `op ${i}: ${renderBundle([op])}`);
        identical++;
      });
      assert.equal(identical, ops.length);
      // ovs-ofctl's own sequence on the bundle connection: OPEN, adds, BARRIER, COMMIT (the barrier
      // is what makes add errors arrive before commit; the native client does the same).
      const lastConn = sw.received[sw.received.length - 1]!.conn;
      const types = sw.received.filter((r) => r.conn === lastConn).map((r) => r.msg.readUInt8(1));
      assert.deepEqual([types[0], types[1], types[types.length - 2], types[types.length - 1]], [OFPT.HELLO, OFPT.BUNDLE_CONTROL, OFPT.BARRIER_REQUEST, OFPT.BUNDLE_CONTROL]);
    } finally {
      await sw.close();
    }
  });

  it('names errors as ovs-ofctl does', async () => {
    const codes: Array<[number, number]> = [];
    for (const [type, n] of [[0, 2], [1, 19], [2, 18], [3, 10], [4, 12], [5, 11], [17, 19]] as const) for (let c = 0; c < n; c++) codes.push([type, c]);
    const msgs = codes.map(([type, code], i) => errorMessage(i + 1, type, code, Buffer.alloc(0)));
    for (const expType of [2, 4, 11, 13, 15, 42]) {
      msgs.push(Buffer.from(`06010014${(msgs.length + 1).toString(16).padStart(8, '0')}ffff${expType.toString(16).padStart(4, '0')}0000232000000000`, 'hex'));
    }
    const printed = await ofpParse(msgs);
    msgs.forEach((msg, i) => assert.equal(printed[i], `OFPT_ERROR (OF1.5) (xid=0x${(i + 1).toString(16)}): ${decodeError(msg).name}`));
  });

  it('refuses what ovs-ofctl refuses while parsing (goto not last, move widths differ, bits beyond the field)', async () => {
    const base = { table: 10, priority: 1, cookie: 1n, match: {} };
    const bad: Flow[] = [
      { ...base, actions: [{ type: 'goto', table: 20 }, { type: 'output', port: 1 }] },
      { ...base, actions: [{ type: 'move', src: 'NXM_NX_REG2[0..3]', dst: 'NXM_NX_REG1[0..7]' }] },
      { ...base, actions: [{ type: 'move', src: 'NXM_NX_REG2[0..40]', dst: 'NXM_NX_CT_LABEL[0..40]' }] },
    ];
    const sw = await FakeOfSwitch.start();
    try {
      for (const f of bad) {
        assert.doesNotThrow(() => renderBundle([add(f)]), 'the renderer accepts it');
        assert.throws(() => encodeFlowMod(1, add(f)), /invalid/);
        await assert.rejects(ofctlBundleAgainst(sw, renderBundle([add(f)])), 'ovs-ofctl refuses it too');
      }
      assert.equal(sw.committed.length, 0);
    } finally {
      await sw.close();
    }
  });
});

describe('native OpenFlow 1.5 encoding: validation parity and dumped matches', () => {
  it('throws the text path\'s validation errors', () => {
    const base = { table: 10, priority: 1, cookie: 1n, match: {}, actions: [] } as Flow;
    const bad: FlowOp[] = [
      add({ ...base, match: { dlSrc: 'zz:bb:cc:dd:ee:ff' } }),
      add({ ...base, match: { nwSrc: '10.0.0.1' } }),
      add({ ...base, match: { protocol: 'ip', nwSrc: '300.0.0.1' } }),
      add({ ...base, match: { regs: [{ reg: 1, value: 1, bits: [0, 3] }, { reg: 1, value: 1, bits: [2, 5] }] } }),
      add({ ...base, match: { protocol: 'udp', tpDst: { port: 70000 } } }),
      add({ ...base, match: { ctState: '+new+bogus' } }),
      add({ ...base, actions: [{ type: 'goto', table: 5 }] }),
      add({ ...base, actions: [{ type: 'drop' }, { type: 'output', port: 1 }] }),
      add({ ...base, actions: [{ type: 'conjunction', id: 1, clause: 1, nClauses: 2 }, { type: 'output', port: 1 }] }),
      add({ ...base, actions: [{ type: 'conjunction', id: 1, clause: 3, nClauses: 2 }] }),
      add({ ...base, actions: [{ type: 'output', port: 0xff00 }] }),
      add({ ...base, actions: [{ type: 'setField', field: 'tun_id', value: '-1' }] }),
      add({ ...base, actions: [{ type: 'ct', zone: 1, execMoves: [{ src: 'NXM_NX_REG2[]', dst: 'NXM_NX_CT_LABEL[0..31]' }] }] }),
      add({ ...base, table: 255 }),
      add({ ...base, priority: 70000 }),
      { op: 'delete', cookie: 0x10n, mask: 0x1n },
      { op: 'deleteStrict', table: 1, priority: 1, match: { protocol: 'arp', nwDst: '10.0.0.1' } },
    ];
    for (const op of bad) {
      let textError: Error | undefined;
      try {
        renderBundle([op]);
      } catch (e) {
        textError = e as Error;
      }
      assert.ok(textError, `the text path refuses ${JSON.stringify(op, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      assert.throws(() => encodeFlowMod(1, op as NativeFlowOp), (e: Error) => e.message === textError!.message);
    }
  });

  it('marks moves of fields it does not know as not natively encodable (the client then uses ovs-ofctl)', () => {
    const f: Flow = { table: 10, priority: 1, cookie: 1n, match: {}, actions: [{ type: 'move', src: 'NXM_NX_XXREG0[0..31]', dst: 'NXM_NX_REG1[]' }] };
    assert.doesNotThrow(() => renderBundle([add(f)]));
    assert.throws(() => encodeFlowMod(1, add(f)), NotNativelyEncodable);
  });

  it('parses every rendered match back to a Match that renders identically', () => {
    const flows = representativeFlows(1);
    for (const f of flows) {
      const text = renderMatch(f.match);
      const parsed = parseDumpedMatch(text);
      assert.ok(parsed !== null, `parse ${text}`);
      assert.equal(renderMatch(parsed), text);
      assert.ok(encodeMatch(parsed).equals(encodeMatch(f.match)), `same wire match for ${text}`);
    }
  });

  it('returns null for dumped matches outside the canonical syntax', () => {
    for (const text of [
      'in_port=LOCAL', 'reg0=0x5/0x5', 'nw_src=10.0.0.0/255.0.255.0', 'ip,icmp_type=8', 'ip,ip', 'tcp,nw_src=10.0.0.1,tcp',
      'dl_src=aa:bb:cc:dd:ee:ff/ff:ff:ff:00:00:00', 'ip,nw_src=10.0.0.1/32', 'reg0=0x0/0xf,reg0=0x1/0xf0', 'ct_label=5', 'tun_id=0x100000000',
      'arp,arp_op=3', 'priority=5', 'table=1', 'ip,nw_dst=10.0.0.0/8 ', '',
    ]) {
      const parsed = parseDumpedMatch(text);
      if (text === '') assert.deepEqual(parsed, {}, 'empty match');
      else assert.equal(parsed, null, text);
    }
  });
});
