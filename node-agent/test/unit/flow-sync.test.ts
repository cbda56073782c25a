import assert from 'node:assert/strict';
import { FlowSync } from '../../src/agent/flow-sync.js';
import type { FlowOp, FlowTable, InstalledFlow } from '../../src/agent/ports.js';
import { CookieKind, decodeCookie, makeCookie } from '../../src/pipeline/cookie.js';
import type { Flow } from '../../src/pipeline/flow.js';

const flow = (id: number, round = 0): Flow => ({ table: 0, priority: 100 + id, match: { inPort: id }, actions: [{ type: 'drop' }], cookie: makeCookie(round, CookieKind.Pod, id) });

class FakeTable implements FlowTable {
  bundles: FlowOp[][] = [];
  installed: InstalledFlow[] = [];
  failWhen: (ops: FlowOp[]) => boolean = () => false;
  private gate: Promise<void> = Promise.resolve();
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise((r) => (release = r));
    return release;
  }
  async apply(ops: FlowOp[]): Promise<void> {
    await this.gate;
    if (this.failWhen(ops)) throw new Error('bundle refused');
    this.bundles.push(ops);
  }
  async dump(): Promise<InstalledFlow[]> {
    return this.installed;
  }
}

describe('FlowSync', () => {
  it('sends changes queued during a bundle together as the next bundle, in order', async () => {
    const t = new FakeTable();
    const fs = new FlowSync(t, 3);
    const release = t.hold();
    const first = fs.install([flow(1)]);
    const rest = [2, 3, 4].map((i) => fs.install([flow(i)]));
    release();
    await Promise.all([first, ...rest]);
    assert.equal(t.bundles.length, 2, 'one bundle for the first change, one for the three queued behind it');
    assert.deepEqual(t.bundles[1]!.map((o) => (o.op === 'add' ? o.flow.match.inPort : -1)), [2, 3, 4]);
    for (const b of t.bundles) for (const o of b) if (o.op === 'add') assert.equal(decodeCookie(o.flow.cookie).round, 3, 'stamped with the current round');
  });

  it('when a combined bundle is refused, only the bad change fails', async () => {
    const t = new FakeTable();
    const fs = new FlowSync(t, 1);
    t.failWhen = (ops) => ops.some((o) => o.op === 'add' && o.flow.match.inPort === 13);
    const release = t.hold();
    const first = fs.install([flow(10)]);
    const good1 = fs.install([flow(11)]);
    const bad = fs.install([flow(13)]);
    const good2 = fs.install([flow(12)]);
    release();
    await first;
    await good1;
    await good2;
    await assert.rejects(bad, /refused/);
    const applied = t.bundles.flat().map((o) => (o.op === 'add' ? o.flow.match.inPort : -1));
    assert.deepEqual(applied, [10, 11, 12]);
  });

  it('resync installs everything under the next round and deletes every other Loom round', async () => {
    const t = new FakeTable();
    t.installed = [
      { cookie: makeCookie(4, CookieKind.Pod, 1), table: 0, priority: 101 },
      { cookie: makeCookie(2, CookieKind.Pod, 9), table: 0, priority: 109 },
      { cookie: 0x1234n, table: 0, priority: 1 },
    ];
    const fs = new FlowSync(t, 4);
    const round = await fs.resync((r) => [flow(1, r)]);
    assert.equal(round, 5);
    const [bundle] = t.bundles;
    assert.equal(bundle![0]!.op, 'add');
    const deletes = bundle!.filter((o) => o.op === 'delete').map((o) => (o.op === 'delete' ? decodeCookie(o.cookie).round : -1)).sort();
    assert.deepEqual(deletes, [2, 4]);
    assert.equal(fs.currentRound, 5);
  });
});
