// Hostile input: a corpus-driven fuzz of loom-cni against a real loom-agent (own netns + OVS). The bulk
// runs in-process through the shim's own code path (runCni) and straight at the socket (a hostile
// client); a sample runs through the real dist/loom-cni executable. Every answer must be a valid CNI
// error object (or a success for requests that are still well-formed DEL/GC/STATUS/VERSION), within
// a time bound; the agent stays up; nothing is left behind and no injection payload ever ran.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFuzzCorpus, type FuzzCase } from '../support/fuzz-corpus.js';
import { createPodNetns, type AgentNode } from '../support/agent-node.js';
import { startNode } from './lib/nodes.js';
import { cleanupLeftovers, deleteNetns, listNetns, nsExec, requireRoot } from '../support/netns.js';
import { cniExec, cniInProcess, confText, errorObjectProblems, ipOf, percentile, podEnv, pool, prng, SOAK, type CniAnswer } from './lib/cni-calls.js';
import { agentPid, assertClean } from './lib/node-state.js';
import { rawPost } from './lib/raw-http.js';
import { recordFigure } from './lib/record.js';

const NODE = 'loomt-rel-fz';
const POD_A = 'loomt-rel-fz-a';
const POD_B = 'loomt-rel-fz-b';
const SEED = Number(process.env.LOOM_FUZZ_SEED ?? 20261125);
/** Per-answer bound (the machine is shared and loaded; an answer taking longer than this is a hang). */
const IN_PROCESS_BOUND_MS = 15000;
const EXEC_BOUND_MS = 15000;
const EXEC_CASES = SOAK ? 1500 : 60;

interface Verdict {
  ok: boolean;
  why: string;
  code?: number;
  success: boolean;
}

function judgeAnswer(c: FuzzCase, a: CniAnswer, boundMs: number): Verdict {
  if (a.ms > boundMs) return { ok: false, why: `no answer within ${boundMs} ms (${Math.round(a.ms)} ms)`, success: false };
  if (a.exitCode === 0) {
    if (c.expect === 'error') return { ok: false, why: `succeeded but must fail: ${a.stdout.slice(0, 200)}`, success: true };
    if (a.stdout.trim() !== '' && (a.json === undefined || typeof a.json !== 'object')) return { ok: false, why: `success with non-JSON output: ${a.stdout.slice(0, 200)}`, success: true };
    return { ok: true, why: '', success: true };
  }
  if (a.exitCode !== 1) return { ok: false, why: `exit code ${a.exitCode} (must be 1): ${a.stdout.slice(0, 200)}`, success: false };
  const problems = errorObjectProblems(a.json);
  if (problems.length > 0) return { ok: false, why: `invalid CNI error object (${problems.join(', ')}): ${a.stdout.slice(0, 200)}`, success: false };
  return { ok: true, why: '', code: (a.json as { code: number }).code, success: false };
}

function judgeRaw(c: FuzzCase, status: number, body: string): Verdict {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, why: `HTTP ${status} with a non-JSON body: ${body.slice(0, 200)}`, success: false };
  }
  const r = parsed as { protocolVersion?: unknown; ok?: unknown; error?: unknown };
  if (typeof r.protocolVersion !== 'number') return { ok: false, why: `answer without protocolVersion: ${body.slice(0, 200)}`, success: false };
  if (r.ok === true) {
    if (c.expect === 'error') return { ok: false, why: `accepted but must be rejected: ${body.slice(0, 200)}`, success: true };
    return { ok: status === 200, why: `HTTP ${status} for a success`, success: true };
  }
  const problems = errorObjectProblems(r.error);
  if (r.ok !== false || problems.length > 0) return { ok: false, why: `invalid error answer (${problems.join(', ')}): ${body.slice(0, 200)}`, success: false };
  return { ok: true, why: '', code: (r.error as { code: number }).code, success: false };
}

function describeCase(c: FuzzCase): string {
  const input = c.via === 'shim' ? c.stdin : c.body;
  const text = typeof input === 'string' ? input : input.toString('latin1');
  const env = c.via === 'shim' ? ` env ${JSON.stringify(c.env).slice(0, 200)}` : '';
  return `${env} input ${JSON.stringify(text.slice(0, 160))}`;
}

describe('reliability: hostile input to loom-cni and loom-agent (fuzz)', function () {
  this.timeout(600000);
  let node: AgentNode;
  let canaryDir: string;
  let canaryBefore: string[];
  let stateBefore: string[];
  let netnsBefore: Set<string>;
  let pidBefore: number | undefined;
  const controls = [
    { containerId: 'fuzz-control-a', ifname: 'eth0', netns: `/var/run/netns/${POD_A}`, ip: '' },
    { containerId: 'fuzz-control-b', ifname: 'eth0', netns: `/var/run/netns/${POD_B}`, ip: '' },
  ];
  const keep = controls.map((c) => ({ containerID: c.containerId, ifname: c.ifname }));
  let corpus: FuzzCase[];

  before(async function () {
    requireRoot(this);
    await cleanupLeftovers();
    canaryDir = await mkdtemp(join(tmpdir(), 'loomt-fuzzcanary-'));
    await writeFile(join(canaryDir, 'victim'), 'must survive\n');
    // Loaded if NODE_OPTIONS were honoured by loom-cni: it would leave a file behind.
    await writeFile(join(canaryDir, 'evil.cjs'), `require('fs').writeFileSync(${JSON.stringify(join(canaryDir, 'node-options-ran'))}, 'x');\n`);
    node = await startNode({ name: NODE, podCidr: '10.244.31.0/24' });
    await createPodNetns(POD_A);
    await createPodNetns(POD_B);
    for (const c of controls) {
      const r = await cniExec(podEnv('ADD', c.containerId, c.netns, c.containerId), confText(node));
      assert.equal(r.exitCode, 0, `control pod ADD: ${r.stdout}`);
      c.ip = ipOf(r);
    }
    canaryBefore = (await readdir(canaryDir)).sort();
    stateBefore = (await readdir(join(node.dir, 'state'))).sort();
    netnsBefore = new Set(await listNetns());
    pidBefore = await agentPid(node);
    corpus = buildFuzzCorpus({ socketPath: node.socket, canaryDir, missingNetns: '/var/run/netns/loomt-rel-fz-missing', keep, seed: SEED });
  });

  after(async () => {
    await deleteNetns(POD_A);
    await deleteNetns(POD_B);
    await node?.destroy();
    if (canaryDir) await rm(canaryDir, { recursive: true, force: true });
  });

  const statusOk = async () => {
    const s = await cniInProcess({ CNI_COMMAND: 'STATUS', CNI_PATH: '/opt/cni/bin' }, confText(node));
    assert.equal(s.exitCode, 0, `the agent must stay ready during the fuzz: ${s.stdout}`);
  };

  it(`answers >= 5,000 hostile requests (in-process shim path and raw socket) with valid CNI errors`, async () => {
    assert.ok(corpus.length >= 5000, `corpus has ${corpus.length} cases`);
    const failures: string[] = [];
    const times: number[] = [];
    const codes = new Map<number, number>();
    let successes = 0;
    let done = 0;
    const sampleMsg = new Map<number, string>();
    const t0 = performance.now();
    await pool(corpus, 6, async (c) => {
      let v: Verdict;
      if (c.via === 'shim') {
        const a = await cniInProcess(c.env, c.stdin, IN_PROCESS_BOUND_MS);
        times.push(a.ms);
        v = judgeAnswer(c, a, IN_PROCESS_BOUND_MS);
        if (v.code !== undefined && !sampleMsg.has(v.code)) sampleMsg.set(v.code, `${c.family}: ${String((a.json as { msg?: unknown }).msg).slice(0, 160)}`);
        if (v.success && c.env.CNI_COMMAND === 'ADD') {
          await cniInProcess({ ...c.env, CNI_COMMAND: 'DEL' }, c.stdin); // do not leave it behind
        }
      } else {
        const t = performance.now();
        const r = await rawPost(node.socket, c.body, IN_PROCESS_BOUND_MS);
        times.push(performance.now() - t);
        v = r.kind === 'failed' ? { ok: false, why: `no answer: ${r.error}`, success: false } : judgeRaw(c, r.status, r.body);
      }
      if (v.success) successes++;
      if (v.code !== undefined) codes.set(v.code, (codes.get(v.code) ?? 0) + 1);
      if (!v.ok && failures.length < 25) failures.push(`#${c.id} [${c.via} ${c.family}] ${describeCase(c)}: ${v.why}`);
      if (++done % 1000 === 0) await statusOk();
    });
    const seconds = (performance.now() - t0) / 1000;
    await statusOk();
    assert.equal(await agentPid(node), pidBefore, 'the agent never restarted');
    recordFigure({ scenario: 'hostile-input', name: 'fuzz cases (in-process + raw socket)', value: corpus.length, unit: 'count', target: { min: 5000 } });
    recordFigure({ scenario: 'hostile-input', name: 'fuzz cases answered wrongly', value: failures.length, unit: 'count', target: { max: 0 } });
    recordFigure({ scenario: 'hostile-input', name: 'fuzz answer p50', value: percentile(times, 50), unit: 'ms' });
    recordFigure({ scenario: 'hostile-input', name: 'fuzz answer p99', value: percentile(times, 99), unit: 'ms' });
    recordFigure({ scenario: 'hostile-input', name: 'fuzz answer max', value: Math.max(...times), unit: 'ms', target: { max: IN_PROCESS_BOUND_MS } });
    recordFigure({ scenario: 'hostile-input', name: 'fuzz run time', value: seconds, unit: 's' });
    console.log(`      error codes: ${JSON.stringify(Object.fromEntries([...codes].sort((a, b) => a[0] - b[0])))}; successes (well-formed DEL/GC/STATUS): ${successes}`);
    for (const [code, msg] of [...sampleMsg].sort((a, b) => a[0] - b[0])) console.log(`      e.g. code ${code}: ${msg}`);
    assert.deepEqual(failures, [], `wrong answers (seed ${SEED})`);
  });

  it(`the real executable answers a sample of the corpus and hostile environments with exit 1 and a CNI error`, async () => {
    const rand = prng(SEED + 1);
    // Exec cannot carry NUL bytes in the environment, and one environment string is capped at 128 KiB.
    const eligible = corpus.filter((c): c is Extract<FuzzCase, { via: 'shim' }> =>
      c.via === 'shim' && Object.values(c.env).every((v) => !v.includes('\0') && v.length < 100000));
    const sample: Array<Extract<FuzzCase, { via: 'shim' }>> = [];
    for (const c of eligible) if (rand() < EXEC_CASES / eligible.length) sample.push(c);
    // Environments a runtime (or an attacker who controls one) could hand the executable.
    const base = podEnv('ADD', 'fuzz-exec-env', '/var/run/netns/loomt-rel-fz-missing', 'p');
    const hostileEnvs: Array<Record<string, string>> = [
      { ...base, NODE_OPTIONS: '--inspect=127.0.0.1:0' },
      { ...base, LD_PRELOAD: join(canaryDir, 'missing.so') },
      { ...base, PATH: '' },
      { ...base, PATH: canaryDir, HOME: canaryDir, TMPDIR: canaryDir },
      { ...base, NODE_PATH: canaryDir, NODE_EXTRA_CA_CERTS: join(canaryDir, 'x') },
      { ...base, LANG: 'xx_XX.BROKEN', LC_ALL: 'C.UTF-8', TZ: ':/etc/../../nonexistent' },
      { ...base, UV_THREADPOOL_SIZE: '0' },
      { ...base, UV_THREADPOOL_SIZE: '100000' },
    ];
    const failures: string[] = [];
    const times: number[] = [];
    await pool([...sample.map((c) => ({ c, env: c.env, stdin: c.stdin })), ...hostileEnvs.map((env, i) => ({ c: { ...sample[0]!, id: -1 - i, family: 'hostile env', expect: 'error' as const }, env, stdin: confText(node) }))], 3, async ({ c, env, stdin }) => {
      const a = await cniExec(env, stdin, EXEC_BOUND_MS + 5000);
      times.push(a.ms);
      const v = judgeAnswer(c, a, EXEC_BOUND_MS);
      if (!v.ok && failures.length < 25) failures.push(`#${c.id} [exec ${c.family}] ${describeCase({ ...c, env })}: ${v.why}`);
    });
    recordFigure({ scenario: 'hostile-input', name: 'executable cases', value: times.length, unit: 'count' });
    recordFigure({ scenario: 'hostile-input', name: 'executable cases answered wrongly', value: failures.length, unit: 'count', target: { max: 0 } });
    recordFigure({ scenario: 'hostile-input', name: 'executable answer p50', value: percentile(times, 50), unit: 'ms' });
    recordFigure({ scenario: 'hostile-input', name: 'executable answer max', value: Math.max(...times), unit: 'ms', target: { max: EXEC_BOUND_MS } });
    assert.deepEqual(failures, []);
    await statusOk();
  });

  it('loom-cni ignores NODE_OPTIONS from its environment (no code can be injected through it)', async () => {
    const ran = join(canaryDir, 'node-options-ran');
    const env = { ...podEnv('ADD', 'fuzz-node-options', '/var/run/netns/loomt-rel-fz-missing', 'p'), NODE_OPTIONS: `--require ${join(canaryDir, 'evil.cjs')}` };
    const a = await cniExec(env, confText(node), EXEC_BOUND_MS + 5000);
    const injected = await stat(ran).then(() => true, () => false);
    await rm(ran, { force: true });
    assert.equal(a.exitCode, 1, a.stdout);
    assert.equal(injected, false, 'NODE_OPTIONS=--require made loom-cni run a foreign script: build the SEA with execArgvExtension "none"');
  });

  it('leaves nothing behind: no IPs, ports, veths, flows, files or namespaces; no payload ran', async () => {
    assert.equal(await agentPid(node), pidBefore, 'the agent never restarted');
    assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined, 'no prototype pollution in the shim');
    // Before any GC: the fuzz itself must not have left anything.
    await assertClean(node, controls);
    assert.deepEqual((await readdir(canaryDir)).sort(), canaryBefore, 'no injection payload created or removed a file');
    assert.deepEqual((await readdir(join(node.dir, 'state'))).sort(), stateBefore, 'no stray files in the state directory');
    const newNetns = (await listNetns()).filter((n) => !netnsBefore.has(n) && !n.startsWith('loomt-'));
    assert.deepEqual(newNetns, [], 'no network namespace was created from fuzz input');
    // The control pods still work.
    const ping = await nsExec(POD_A, 'ping', ['-c', '2', '-W', '2', controls[1]!.ip], { reject: false });
    assert.equal(ping.exitCode, 0, `control pods still reach each other: ${ping.stdout}`);
    // GC with the control pods as the valid list changes nothing.
    const gc = await cniInProcess({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, confText(node, { 'cni.dev/valid-attachments': keep }));
    assert.equal(gc.exitCode, 0, gc.stdout);
    await assertClean(node, controls);
    const lsof = await execa('ls', ['-1', `/proc/${pidBefore}/fd`], { reject: false });
    const fds = lsof.stdout.split('\n').filter(Boolean).length;
    recordFigure({ scenario: 'hostile-input', name: 'agent open fds after the fuzz', value: fds, unit: 'count', target: { max: 200 } });
  });
});
