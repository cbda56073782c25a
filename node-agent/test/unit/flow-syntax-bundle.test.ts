import assert from 'node:assert/strict';
import type { Flow } from '../../src/pipeline/flow.js';
import { planReconcile, renderBundle } from '../../src/ovs/ofctl.js';
import type { InstalledFlow } from '../../src/ovs/flow-syntax.js';

const flow = (table: number, priority: number, cookie: bigint, port: number): Flow => ({
  table,
  priority,
  cookie,
  match: { inPort: port },
  actions: [{ type: 'output', port: port + 1 }],
});

describe('ofctl: bundle text', () => {
  it('renders add, modify, strict delete and cookie delete lines in order', () => {
    const text = renderBundle([
      { op: 'add', flow: flow(0, 10, 0x1n, 1) },
      { op: 'modify', flow: flow(0, 10, 0x1n, 1) },
      { op: 'deleteStrict', table: 0, priority: 10, match: { inPort: 1 } },
      { op: 'deleteStrict', table: 0, priority: 0, match: '' },
      { op: 'delete', cookie: 0x4c4d010000000000n, mask: 0xffffff0000000000n, table: 30 },
      { op: 'delete', cookie: 0x1n, mask: 0xffn },
    ]);
    assert.equal(
      text,
      'flow add table=0,priority=10,cookie=0x1,in_port=1 actions=output:2\n' +
        'flow modify_strict table=0,priority=10,cookie=0x1,in_port=1 actions=output:2\n' +
        'flow delete_strict table=0,priority=10,in_port=1\n' +
        'flow delete_strict table=0,priority=0\n' +
        'flow delete table=30,cookie=0x4c4d010000000000/0xffffff0000000000\n' +
        'flow delete cookie=0x1/0xff\n',
    );
  });

  it('refuses a match string that could smuggle another bundle line', () => {
    assert.throws(() => renderBundle([{ op: 'deleteStrict', table: 0, priority: 1, match: 'ip\nflow delete' }]), /match string/);
  });
});

describe('ofctl: reconcile plan', () => {
  const installed = (f: Flow, actions = `output:${(f.match.inPort ?? 0) + 1}`): InstalledFlow => ({
    cookie: f.cookie,
    table: f.table,
    priority: f.priority,
    match: `in_port=${f.match.inPort}`,
    actions,
  });

  it('adds missing and changed flows, keeps equal ones, deletes stale owned ones only', () => {
    const same = flow(0, 10, 0x4c4d000000000001n, 1);
    const newCookie = flow(0, 10, 0x4c4d000000000002n, 2);
    const newActions = flow(0, 10, 0x4c4d000000000001n, 3);
    const missing = flow(0, 10, 0x4c4d000000000001n, 4);
    const staleOwned = flow(0, 10, 0x4c4d000000000009n, 5);
    const foreign = flow(0, 10, 0x99n, 6);
    const { ops, unchanged } = planReconcile(
      [same, newCookie, newActions, missing],
      [
        installed(same),
        installed({ ...newCookie, cookie: 0x4c4d000000000001n }),
        installed(newActions, 'drop'),
        installed(staleOwned),
        installed(foreign),
      ],
      { cookie: 0x4c4d000000000000n, mask: 0xffff000000000000n },
    );
    assert.equal(unchanged, 1);
    assert.deepEqual(ops, [
      { op: 'add', flow: newCookie },
      { op: 'add', flow: newActions },
      { op: 'add', flow: missing },
      { op: 'deleteStrict', table: 0, priority: 10, match: 'in_port=5' },
    ]);
  });

  it('refuses two desired flows with the same identity', () => {
    assert.throws(() => planReconcile([flow(0, 1, 1n, 1), flow(0, 1, 2n, 1)], []), /share table, priority and match/);
  });
});
