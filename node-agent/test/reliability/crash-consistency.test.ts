// Crash consistency: `kill -9` of the agent at random points during ADD/DEL cycles driven the way
// containerd drives them (a failed ADD is followed by DEL, a failed DEL is retried), restarts after
// each kill, then a final restart and a GC with the valid list: no leaked IP, OVS port, flow or veth,
// no IP held by two pods, and every pod that is still running keeps the IP it was given.
import assert from 'node:assert/strict';
import { createPodNetns, type AgentNode } from '../support/agent-node.js';
import { cleanupLeftovers, deleteNetns, nsExec, requireRoot } from '../support/netns.js';
import { cniInProcess, confText, ipOf, podEnv, pool, prng, SOAK, sleep } from './lib/cni-calls.js';
import { assertClean, assertNoDuplicateIps, leaksOf, nodeState } from './lib/node-state.js';
import { startAgentPatiently, startNode } from './lib/nodes.js';
import { recordFigure } from './lib/record.js';

// 200 cycles take ~15 min on the shared 2-core VM under load: CI runs 40, the soak run 200 (or LOOM_CRASH_CYCLES).
const CYCLES = Number(process.env.LOOM_CRASH_CYCLES ?? (SOAK ? 200 : 40));
const SLOTS = 12;
const WORKERS = 3;
const SEED = Number(process.env.LOOM_CRASH_SEED ?? 4242);

type Slot =
  | { state: 'absent'; netns: string; gen: number }
  | { state: 'running'; netns: string; gen: number; containerId: string; ip: string }
  /** an ADD or DEL failed: the runtime must DEL this container before anything else */
  | { state: 'dirty'; netns: string; gen: number; containerId: string };

describe('reliability: crash consistency (kill -9 during ADD/DEL cycles)', function () {
  this.timeout(1800000);
  let node: AgentNode;
  const slots: Slot[] = Array.from({ length: SLOTS }, (_, i) => ({ state: 'absent', netns: `loomt-rel-cr-${i}`, gen: 0 }));

  before(async function () {
    requireRoot(this);
    await cleanupLeftovers();
    node = await startNode({ name: 'loomt-rel-cr', podCidr: '10.244.35.0/24' });
    await pool(slots, 4, (s) => createPodNetns(s.netns));
  });
  after(async () => {
    await pool(slots, 4, (s) => deleteNetns(s.netns));
    await node?.destroy();
  });

  it(`${CYCLES} ADD/DEL cycles with kill -9 every 15-25 operations leave nothing behind`, async () => {
    const rand = prng(SEED);
    const conf = confText(node);
    let cycles = 0;
    let ops = 0;
    let kills = 0;
    let failedOps = 0;
    let nextKill = 15 + Math.floor(rand() * 11);
    let agentDown = false;
    const busy = new Set<number>();
    const duplicateIps: string[] = [];
    const restartTimes: number[] = [];
    const t0 = performance.now();

    const env = (cmd: 'ADD' | 'DEL', s: Slot, containerId: string) => podEnv(cmd, containerId, `/var/run/netns/${s.netns}`, containerId);

    const step = async (i: number): Promise<void> => {
      const s = slots[i]!;
      if (s.state === 'absent') {
        const containerId = `cr-${i}-${s.gen + 1}`;
        const a = await cniInProcess(env('ADD', s, containerId), conf, 60000);
        ops++;
        if (a.exitCode === 0) {
          const ip = ipOf(a);
          for (const o of slots) if (o !== s && o.state === 'running' && o.ip === ip) duplicateIps.push(`${ip} given to ${containerId} while ${o.containerId} runs with it`);
          slots[i] = { state: 'running', netns: s.netns, gen: s.gen + 1, containerId, ip };
        } else {
          failedOps++;
          slots[i] = { state: 'dirty', netns: s.netns, gen: s.gen + 1, containerId };
        }
        return;
      }
      // running or dirty: DEL (containerd's StopPodSandbox / the DEL after a failed ADD)
      const d = await cniInProcess(env('DEL', s, s.containerId), conf, 60000);
      ops++;
      if (d.exitCode === 0) {
        if (s.state === 'running') cycles++;
        slots[i] = { state: 'absent', netns: s.netns, gen: s.gen };
      } else {
        failedOps++;
        slots[i] = { state: 'dirty', netns: s.netns, gen: s.gen, containerId: s.containerId };
      }
    };

    const worker = async (): Promise<void> => {
      while (cycles < CYCLES) {
        if (agentDown) {
          await sleep(50);
          continue;
        }
        const free = slots.map((_, i) => i).filter((i) => !busy.has(i));
        if (free.length === 0) {
          await sleep(10);
          continue;
        }
        const i = free[Math.floor(rand() * free.length)]!;
        busy.add(i);
        try {
          await step(i);
        } finally {
          busy.delete(i);
        }
      }
    };

    const killer = async (): Promise<void> => {
      while (cycles < CYCLES) {
        if (ops < nextKill) {
          await sleep(5);
          continue;
        }
        // A random moment inside the operations now in flight.
        await sleep(Math.floor(rand() * 120));
        agentDown = true;
        await node.stopAgent('SIGKILL');
        kills++;
        const r0 = performance.now();
        await startAgentPatiently(node);
        restartTimes.push(performance.now() - r0);
        agentDown = false;
        nextKill = ops + 15 + Math.floor(rand() * 11);
      }
    };

    await Promise.all([killer(), ...Array.from({ length: WORKERS }, worker)]);
    const loopSeconds = (performance.now() - t0) / 1000;

    // The runtime finishes its pending DELs (dirty sandboxes), as containerd would on its next sync.
    for (let i = 0; i < SLOTS; i++) {
      for (let attempt = 0; slots[i]!.state === 'dirty' && attempt < 5; attempt++) await step(i);
      assert.notEqual(slots[i]!.state, 'dirty', `DEL of ${slots[i]!.netns} keeps failing`);
    }
    // Final crash, restart and GC with the pods the runtime still runs.
    await node.stopAgent('SIGKILL');
    await startAgentPatiently(node);
    const running = slots.filter((s): s is Extract<Slot, { state: 'running' }> => s.state === 'running');
    const valid = running.map((s) => ({ containerId: s.containerId, ifname: 'eth0' }));
    const beforeGc = await nodeState(node);
    const leaksBeforeGc = leaksOf(beforeGc, valid);
    const gc = await cniInProcess({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, confText(node, { 'cni.dev/valid-attachments': valid.map((v) => ({ containerID: v.containerId, ifname: v.ifname })) }));
    assert.equal(gc.exitCode, 0, gc.stdout);
    const after = await assertClean(node, valid);
    assertNoDuplicateIps(after);
    assert.deepEqual(duplicateIps, [], 'no IP was ever handed to a second running pod');
    // Running pods keep the IP their ADD returned; the namespace holds exactly that address.
    for (const s of running) {
      const owner = [...after.allocations].find(([, o]) => o.containerId === s.containerId);
      assert.equal(owner?.[0], s.ip, `${s.containerId} keeps ${s.ip}`);
      const addr = await nsExec(s.netns, 'ip', ['-o', '-4', 'addr', 'show', 'dev', 'eth0']);
      assert.match(addr.stdout, new RegExp(`inet ${s.ip.replace(/\./g, '\\.')}/`));
    }
    // Deleted pods have no interface left in their namespace.
    for (const s of slots.filter((x) => x.state === 'absent')) {
      const r = await nsExec(s.netns, 'ip', ['-o', 'link', 'show', 'eth0'], { reject: false });
      assert.notEqual(r.exitCode, 0, `${s.netns} has no eth0 after DEL`);
    }
    if (running.length >= 2) {
      const p = await nsExec(running[0]!.netns, 'ping', ['-c', '1', '-W', '3', running[1]!.ip], { reject: false });
      assert.equal(p.exitCode, 0, 'surviving pods still reach each other');
    }
    recordFigure({ scenario: 'crash-consistency', name: 'ADD/DEL cycles completed', value: cycles, unit: 'count', target: { min: CYCLES } });
    recordFigure({ scenario: 'crash-consistency', name: 'kill -9 of the agent', value: kills, unit: 'count' });
    recordFigure({ scenario: 'crash-consistency', name: 'operations failed by a kill (then DEL-retried)', value: failedOps, unit: 'count' });
    recordFigure({ scenario: 'crash-consistency', name: 'leftovers found after the final restart, before GC', value: leaksBeforeGc.length, unit: 'count' });
    recordFigure({ scenario: 'crash-consistency', name: 'leaked IPs/ports/veths/flows after GC', value: leaksOf(after, valid).length, unit: 'count', target: { max: 0 } });
    recordFigure({ scenario: 'crash-consistency', name: 'IPs held by two pods', value: duplicateIps.length, unit: 'count', target: { max: 0 } });
    recordFigure({ scenario: 'crash-consistency', name: 'agent restart to ready, median', value: restartTimes.sort((a, b) => a - b)[Math.floor(restartTimes.length / 2)] ?? 0, unit: 'ms' });
    recordFigure({ scenario: 'crash-consistency', name: 'run time', value: loopSeconds, unit: 's' });
    if (leaksBeforeGc.length > 0) console.log(`      leftovers before GC: ${leaksBeforeGc.join('; ')}`);
  });
});
