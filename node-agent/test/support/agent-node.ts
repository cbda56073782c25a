// A simulated node for integration tests: a `loomt-` network namespace with its own OVS instance
// and a real loom-agent process (dist/loom-agent.mjs) inside it, plus helpers that run the real
// loom-cni executable in that namespace exactly as a container runtime would.
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createNetns, deleteNetns, TEST_DIR_PREFIX } from './netns.js';
import { startOvsInstance, type OvsInstance } from './ovs-instance.js';
import { AGENT_NODE_FLAGS } from '../../src/node-flags.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../../..');
export const LOOM_CNI = join(REPO_ROOT, 'dist/loom-cni');
export const LOOM_AGENT = join(REPO_ROOT, 'dist/loom-agent.mjs');
export const NODE_BIN = process.execPath;

export function requireBuild(): void {
  for (const f of [LOOM_CNI, LOOM_AGENT]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run "npm run build" first`);
  }
}

export interface CniCallOptions {
  command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  config?: Record<string, unknown>;
  /** raw stdin instead of the generated config */
  stdin?: string;
}

export interface CniOutcome {
  exitCode: number;
  stdout: string;
  json: Record<string, unknown> | undefined;
}

export interface AgentNode {
  name: string;
  netns: string;
  podCidr: string;
  dir: string;
  ovs: OvsInstance;
  socket: string;
  logFile: string;
  netConf(extra?: Record<string, unknown>): Record<string, unknown>;
  cni(o: CniCallOptions): Promise<CniOutcome>;
  startAgent(): Promise<void>;
  /** SIGKILL (crash) or SIGTERM (graceful) the agent. */
  stopAgent(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  waitReady(timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
  agentArgs: string[];
}

export interface AgentNodeOptions {
  name: string; // e.g. loomt-n1
  podCidr: string;
  extraArgs?: string[];
  mtu?: number;
}

export async function startAgentNode(o: AgentNodeOptions): Promise<AgentNode> {
  requireBuild();
  await createNetns(o.name);
  const dir = await mkdtemp(join(tmpdir(), `${TEST_DIR_PREFIX}node-`));
  let ovs: OvsInstance | undefined;
  let agent: ResultPromise | undefined;
  const socket = join(dir, 'cni.sock');
  const logFile = join(dir, 'agent.log');
  try {
    ovs = await startOvsInstance(o.name);
  } catch (e) {
    await deleteNetns(o.name);
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const agentArgs = [
    LOOM_AGENT,
    '--node-name', o.name,
    '--kubeconfig', 'none',
    '--pod-cidr', o.podCidr,
    '--ovs-run-dir', ovs.rundir,
    '--cni-socket', socket,
    '--state-dir', join(dir, 'state'),
    '--install-cni-config=false',
    '--metrics-port', '0',
    '--datapath-type', 'netdev',
    '--mtu', String(o.mtu ?? 1450),
    '--log-level', 'debug',
    ...(o.extraArgs ?? []),
  ];
  const node: AgentNode = {
    name: o.name,
    netns: o.name,
    podCidr: o.podCidr,
    dir,
    ovs,
    socket,
    logFile,
    agentArgs,
    netConf: (extra = {}) => ({ cniVersion: '1.1.0', name: 'loom', type: 'loom-cni', socketPath: socket, ...extra }),
    async cni(c) {
      const env: Record<string, string> = { CNI_COMMAND: c.command, CNI_PATH: '/opt/cni/bin' };
      if (c.containerId !== undefined) env.CNI_CONTAINERID = c.containerId;
      if (c.netns !== undefined) env.CNI_NETNS = c.netns;
      if (c.ifname !== undefined) env.CNI_IFNAME = c.ifname;
      if (c.args !== undefined) env.CNI_ARGS = c.args;
      const stdin = c.stdin ?? JSON.stringify(c.config ?? node.netConf());
      const r = await execa('ip', ['netns', 'exec', o.name, LOOM_CNI], { env, extendEnv: false, input: stdin, reject: false, timeout: 120000 });
      let json: Record<string, unknown> | undefined;
      try {
        json = r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      return { exitCode: r.exitCode ?? -1, stdout: r.stdout, json };
    },
    async startAgent() {
      agent = execa('ip', ['netns', 'exec', o.name, NODE_BIN, ...AGENT_NODE_FLAGS, ...agentArgs], {
        reject: false,
        stdout: { file: logFile, append: true },
        stderr: { file: logFile, append: true },
      });
      await node.waitReady();
    },
    async stopAgent(signal = 'SIGTERM') {
      if (!agent) return;
      const a = agent;
      agent = undefined;
      // `ip netns exec` execs node directly, so the pid is the agent's.
      a.kill(signal);
      await a;
    },
    async waitReady(timeoutMs = 90000) {
      const until = Date.now() + timeoutMs;
      let last = '';
      while (Date.now() < until) {
        const r = await node.cni({ command: 'STATUS' });
        if (r.exitCode === 0) return;
        last = r.stdout;
        if (agent && agent.exitCode !== null && agent.exitCode !== undefined) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n');
      throw new Error(`loom-agent in ${o.name} did not become ready: ${last}\nlast agent log lines:\n${tail}`);
    },
    async destroy() {
      await node.stopAgent('SIGKILL').catch(() => undefined);
      await ovs?.stop().catch(() => undefined);
      await deleteNetns(o.name);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await node.startAgent();
  } catch (e) {
    await node.destroy();
    throw e;
  }
  return node;
}

/** A pod sandbox: a `loomt-` network namespace whose path is given to loom-cni as CNI_NETNS. */
export async function createPodNetns(name: string): Promise<string> {
  await createNetns(name);
  return `/var/run/netns/${name}`;
}
