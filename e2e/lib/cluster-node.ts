// One simulated Kubernetes node: a `<prefix>n<i>` namespace linked to the underlay, its own OVS
// (userspace datapath, own run/db/log dirs) and a real loom-agent process talking to the test API server.
import { execa } from 'execa';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Node } from '@kubernetes/client-node';
import { LOOM_AGENT } from '../../node-agent/test/support/agent-node.js';
import { createNetns } from '../../node-agent/test/support/netns.js';
import { startOvsInstance, type OvsInstance } from '../../node-agent/test/support/ovs-instance.js';
import type { ApiClient } from './api-client.js';
import { markOwned } from './cleanup.js';
import { spawnDaemon, type Daemon } from './daemon.js';
import { attachToUnderlay } from './underlay.js';
import { nodeIp, nodeNetns, nodePodCidr } from './names.js';
import { AGENT_NODE_FLAGS } from '../../node-agent/src/node-flags.js';

export interface NodeSpec {
  prefix: string;
  index: number;
  /** directory of this node's files (agent log, CNI socket, state) */
  dir: string;
  kubeconfig: string;
  /** CNI_PATH of the simulated runtime (holds loom-cni) */
  cniBinDir: string;
  extraAgentArgs: string[];
  /** leave the agent running when the harness process exits (demo --keep) */
  keepOnExit?: boolean;
}

export interface ClusterNode {
  /** Kubernetes Node name = network namespace name */
  name: string;
  netns: string;
  index: number;
  internalIp: string;
  podCidr: string;
  dir: string;
  cniSocket: string;
  agentLog: string;
  ovs: OvsInstance;
  /** argv of the agent after the node binary */
  agentArgs: string[];
  startAgent(): Promise<void>;
  /** SIGTERM (graceful, SIGKILL after 10 s) or SIGKILL (crash). */
  stopAgent(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  waitAgentReady(timeoutMs?: number): Promise<void>;
  /** Runs a command in the node namespace (argument array). */
  exec(cmd: string, args: string[], opts?: { reject?: boolean; timeout?: number }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** ovs-vsctl against this node's OVS. */
  vsctl(args: string[]): Promise<string>;
  /** Pod ports in this node's OVS: interface name and external_ids, for those carrying loom-container-id. */
  podPorts(): Promise<Array<{ name: string; externalIds: Record<string, string> }>>;
  /** Last lines of the agent log, for error messages. */
  agentLogTail(lines?: number): Promise<string>;
  destroy(): Promise<void>;
}

export function nodeObject(name: string, index: number): V1Node {
  const podCidr = nodePodCidr(index);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' } },
    spec: { podCIDR: podCidr, podCIDRs: [podCidr] },
  };
}

export function nodeStatus(name: string, index: number): V1Node['status'] {
  const now = new Date();
  return {
    addresses: [{ type: 'InternalIP', address: nodeIp(index) }, { type: 'Hostname', address: name }],
    conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'simulated by the Loom e2e harness', lastHeartbeatTime: now, lastTransitionTime: now }],
    nodeInfo: { architecture: 'amd64', bootID: '', containerRuntimeVersion: 'loom-e2e://0', kernelVersion: '', kubeProxyVersion: '', kubeletVersion: 'v1.32.0', machineID: '', operatingSystem: 'linux', osImage: 'loom e2e netns', systemUUID: '' },
  };
}

/** Registers the Node object the way kubelet (create) and the node controller (podCIDR) would. */
export async function registerNode(api: ApiClient, name: string, index: number): Promise<void> {
  await api.create('nodes', undefined, nodeObject(name, index));
  await api.mergePatch('nodes', undefined, name, { status: nodeStatus(name, index) }, { status: true });
}

/** Creates namespace + underlay link + OVS, then starts the agent and waits until it is ready. */
export async function startClusterNode(s: NodeSpec, ulNs: string): Promise<ClusterNode> {
  const name = nodeNetns(s.prefix, s.index);
  await mkdir(s.dir, { recursive: true });
  await createNetns(name);
  await attachToUnderlay(ulNs, { netns: name, bridgePort: `v-n${s.index}`, ip: nodeIp(s.index), defaultRoute: true });
  const ovs = await startOvsInstance(name, { dirPrefix: `${s.prefix}ovs-` });
  await markOwned(ovs.dir);
  const cniSocket = join(s.dir, 'cni.sock');
  const agentLog = join(s.dir, 'agent.log');
  const agentArgs = [
    LOOM_AGENT,
    '--node-name', name,
    '--kubeconfig', s.kubeconfig,
    '--ovs-run-dir', ovs.rundir,
    '--cni-socket', cniSocket,
    '--state-dir', join(s.dir, 'state'),
    '--install-cni-config=false',
    '--metrics-port', '0',
    '--datapath-type', 'netdev',
    '--transport-interface', 'eth0',
    '--cluster-cidr', '10.244.0.0/16',
    '--audit-log-dir', join(s.dir, 'audit'),
    '--log-level', 'debug',
    ...s.extraAgentArgs,
  ];
  let agent: Daemon | undefined;
  const exec: ClusterNode['exec'] = async (cmd, args, opts = {}) => {
    const r = await execa('ip', ['netns', 'exec', name, cmd, ...args], { reject: false, timeout: opts.timeout ?? 20000 });
    if ((opts.reject ?? true) && r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${name} failed (${r.exitCode}): ${r.stderr.trim()}`);
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const node: ClusterNode = {
    name, netns: name, index: s.index, internalIp: nodeIp(s.index), podCidr: nodePodCidr(s.index), dir: s.dir, cniSocket, agentLog, ovs, agentArgs,
    exec,
    async vsctl(args) {
      return (await execa('ovs-vsctl', [`--db=${ovs.dbSock}`, ...args], { timeout: 20000 })).stdout;
    },
    async podPorts() {
      const out: Array<{ name: string; externalIds: Record<string, string> }> = [];
      for (const table of ['Interface', 'Port']) {
        const json = JSON.parse(await node.vsctl(['--format=json', '--', '--columns=name,external_ids', 'list', table])) as { data: Array<[string, ['map', Array<[string, string]>]]> };
        for (const [ifname, [, pairs]] of json.data) {
          const externalIds = Object.fromEntries(pairs);
          if (externalIds['loom-container-id'] !== undefined && !out.some((p) => p.name === ifname)) out.push({ name: ifname, externalIds });
        }
      }
      return out;
    },
    async agentLogTail(lines = 30) {
      return (await readFile(agentLog, 'utf8').catch(() => '')).split('\n').slice(-lines).join('\n');
    },
    async startAgent() {
      if (agent) throw new Error(`the agent of ${name} is already running; stopAgent() first`);
      agent = spawnDaemon('ip', ['netns', 'exec', name, process.execPath, ...AGENT_NODE_FLAGS, ...agentArgs], { logFile: agentLog, keepOnExit: s.keepOnExit ?? false });
      await node.waitAgentReady();
    },
    async stopAgent(signal = 'SIGTERM') {
      const a = agent;
      agent = undefined;
      if (!a) return;
      a.kill(signal);
      const killer = setTimeout(() => a.kill('SIGKILL'), 10000);
      await a.exited;
      clearTimeout(killer);
    },
    async waitAgentReady(timeoutMs = 90000) {
      const until = Date.now() + timeoutMs;
      let last = '';
      const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'loom', type: 'loom-cni', socketPath: cniSocket });
      while (Date.now() < until) {
        const r = await execa('ip', ['netns', 'exec', name, join(s.cniBinDir, 'loom-cni')], {
          env: { CNI_COMMAND: 'STATUS', CNI_PATH: s.cniBinDir }, extendEnv: false, input: conf, reject: false, timeout: 10000,
        });
        if (r.exitCode === 0) return;
        last = r.stdout || r.stderr;
        if (agent && agent.exitCode() !== null) break;
        await new Promise((res) => setTimeout(res, 150));
      }
      throw new Error(`loom-agent on node ${name} did not become ready within ${timeoutMs} ms (last CNI STATUS answer: ${last.trim()}); agent log ${agentLog} ends with:\n${await node.agentLogTail()}`);
    },
    async destroy() {
      await node.stopAgent('SIGKILL').catch(() => undefined);
      await ovs.stop().catch(() => undefined);
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
