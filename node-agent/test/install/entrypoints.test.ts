// The image's three entrypoints start and explain themselves with --help.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { join } from 'node:path';
import { LOOM_AGENT, LOOM_CNI, NODE_BIN, REPO_ROOT, requireBuild } from '../support/agent-node.js';

describe('install: entrypoints start with --help', () => {
  before(() => requireBuild());

  it('loom-agent --help lists its options and exits 0', async () => {
    const r = await execa(NODE_BIN, [LOOM_AGENT, '--help'], { reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /--pod-cidr/);
    assert.match(r.stdout, /--datapath-type/);
  });

  it('loomctl --help lists its commands and exits 0', async () => {
    const r = await execa(NODE_BIN, [join(REPO_ROOT, 'dist/loomctl.mjs'), '--help'], { reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    for (const cmd of ['pods', 'policies', 'flows', 'trace']) assert.match(r.stdout, new RegExp(`\\b${cmd}\\b`));
  });

  it('loom-cni --help explains itself and exits 0, but a runtime call without input is a CNI error', async () => {
    const help = await execa(LOOM_CNI, ['--help'], { reject: false, env: {}, extendEnv: false });
    assert.equal(help.exitCode, 0);
    assert.match(help.stdout, /CNI plugin/);
    const bare = await execa(LOOM_CNI, [], { reject: false, env: {}, extendEnv: false, input: '' });
    assert.equal(bare.exitCode, 1);
    assert.equal(JSON.parse(bare.stdout).code, 4);
  });
});
