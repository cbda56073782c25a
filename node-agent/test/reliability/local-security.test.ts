// Local security of the agent: the CNI socket is root-owned with mode 0600, non-root clients cannot
// connect, oversized requests are rejected without being buffered, and no code path runs a shell.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { chmod, link, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { MAX_REQUEST_BYTES } from '../../../cni-binary/src/protocol.js';
import { REPO_ROOT, type AgentNode } from '../support/agent-node.js';
import { startNode } from './lib/nodes.js';
import { cleanupLeftovers, requireRoot } from '../support/netns.js';
import { cniInProcess, confText, errorObjectProblems } from './lib/cni-calls.js';
import { agentPid, rssKb } from './lib/node-state.js';
import { flood } from './lib/raw-http.js';
import { recordFigure } from './lib/record.js';

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** Try to connect to a unix socket as user nobody; returns the exit code and what nc said. */
async function connectAsNobody(socketPath: string): Promise<{ exitCode: number; stderr: string }> {
  const r = await execa('setpriv', [...NOBODY, 'nc', '-U', '-z', socketPath], { reject: false, timeout: 10000 });
  return { exitCode: r.exitCode ?? -1, stderr: r.stderr };
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sourceFiles(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('reliability: local security of the agent socket', function () {
  this.timeout(180000);
  let node: AgentNode;
  let linkDir: string;
  let controlServer: Server | undefined;

  before(async function () {
    requireRoot(this);
    await cleanupLeftovers();
    node = await startNode({ name: 'loomt-rel-sec', podCidr: '10.244.32.0/24' });
    // A world-traversable directory, so that only the socket's own mode decides who may connect.
    linkDir = await mkdtemp(join(tmpdir(), 'loomt-sec-'));
    await chmod(linkDir, 0o755);
  });
  after(async () => {
    controlServer?.close();
    await node?.destroy();
    if (linkDir) await rm(linkDir, { recursive: true, force: true });
  });

  it('the socket is owned by root with mode 0600', async () => {
    const st = await stat(node.socket);
    assert.ok(st.isSocket(), `${node.socket} is a socket`);
    assert.equal(st.uid, 0, 'owned by root');
    assert.equal(st.gid, 0, 'group root');
    assert.equal(st.mode & 0o777, 0o600, `mode is ${(st.mode & 0o777).toString(8)}`);
  });

  it('a non-root client cannot connect (and the same check succeeds on an open socket)', async () => {
    // Control: nobody CAN connect to a 0666 socket in the same directory, so a refusal below is real.
    const open = join(linkDir, 'open.sock');
    controlServer = createServer((s) => s.end());
    await new Promise<void>((r) => controlServer!.listen(open, () => r()));
    await chmod(open, 0o666);
    const control = await connectAsNobody(open);
    assert.equal(control.exitCode, 0, `nobody connects to a 0666 socket: ${control.stderr}`);
    // The agent's socket, reached through a hard link in the open directory: same inode, same mode.
    const agentLink = join(linkDir, 'agent.sock');
    await link(node.socket, agentLink);
    const denied = await connectAsNobody(agentLink);
    assert.notEqual(denied.exitCode, 0, 'nobody must not connect to the agent socket');
    assert.match(denied.stderr, /Permission denied/i);
    // And in its real place (0700 directory) too.
    assert.notEqual((await connectAsNobody(node.socket)).exitCode, 0);
  });

  for (const declared of [true, false]) {
    it(`rejects a request body larger than ${MAX_REQUEST_BYTES} bytes ${declared ? 'with a declared Content-Length' : 'without a length (chunked)'} without buffering it`, async () => {
      const pid = await agentPid(node);
      assert.ok(pid, 'agent pid');
      const rssBefore = await rssKb(pid);
      const total = 256 * 1024 * 1024;
      const r = await flood(node.socket, { totalBytes: total, declared, timeoutMs: 60000 });
      const rssAfter = await rssKb(pid);
      assert.notEqual(r.closedBy, 'client-limit', 'the agent must stop reading long before 256 MiB');
      assert.notEqual(r.closedBy, 'timeout', 'the agent must answer or close promptly');
      assert.ok(r.bytesWritten < 64 * 1024 * 1024, `the client got ${r.bytesWritten} bytes in before the agent closed`);
      assert.equal(r.status, 413, `HTTP 413 expected, got ${r.status ?? 'no status'}: ${r.body.slice(0, 200)}`);
      const answer = JSON.parse(r.body) as { ok: boolean; error: unknown };
      assert.equal(answer.ok, false);
      assert.deepEqual(errorObjectProblems(answer.error), []);
      assert.equal((answer.error as { code: number }).code, 7);
      const growthMb = (rssAfter - rssBefore) / 1024;
      assert.ok(growthMb < 48, `agent RSS grew by ${growthMb.toFixed(1)} MB`);
      recordFigure({ scenario: 'local-security', name: `oversized body ${declared ? 'declared' : 'chunked'}: bytes accepted before 413`, value: r.bytesWritten / (1024 * 1024), unit: 'MiB', target: { max: 64 } });
      recordFigure({ scenario: 'local-security', name: `oversized body ${declared ? 'declared' : 'chunked'}: agent RSS growth`, value: growthMb, unit: 'MB', target: { max: 48 } });
      const status = await cniInProcess({ CNI_COMMAND: 'STATUS' }, confText(node));
      assert.equal(status.exitCode, 0, 'the agent is still ready');
    });
  }

  it('no agent or shim code runs a shell or a command string', async () => {
    const files = [...(await sourceFiles(join(REPO_ROOT, 'node-agent/src'))), ...(await sourceFiles(join(REPO_ROOT, 'cni-binary/src')))];
    assert.ok(files.length > 20, 'source files found');
    const forbidden: Array<[RegExp, string]> = [
      [/\bshell\s*:\s*(true|['"`])/, 'shell option'],
      [/\bexecaCommand(Sync)?\s*\(/, 'execaCommand parses a command string'],
      [/(^|[\s=(,;])\$`|(^|[\s=(,;])\$\(\s*\{[^}]*\}\s*\)\s*`/, 'execa template-string API'],
      [/\b(execSync|exec)\s*\(\s*[`'"]/, 'child_process.exec with a command string'],
      [/import\s*\{[^}]*\bexec(Sync)?\b[^}]*\}\s*from\s*['"](node:)?child_process['"]/, 'child_process.exec runs a shell'],
      [/['"`](\/bin\/)?(ba)?sh['"`]\s*,\s*\[\s*['"`]-c['"`]/, 'sh -c'],
      [/\beval\s*\(|new Function\s*\(/, 'eval'],
    ];
    const hits: string[] = [];
    for (const f of files) {
      const lines = (await readFile(f, 'utf8')).split('\n');
      lines.forEach((line, i) => {
        if (/^\s*(\/\/|\*)/.test(line)) return;
        for (const [re, why] of forbidden) if (re.test(line)) hits.push(`${relative(REPO_ROOT, f)}:${i + 1}: ${why}: ${line.trim()}`);
      });
    }
    assert.deepEqual(hits, []);
  });
});
