// Runs a CNI plugin inside a node network namespace the way the integration helper (and a runtime)
// does: `ip netns exec NODE PLUGIN`, env from the CNI call, config on stdin. Times the exec from
// spawn to exit, identically for every plugin so Loom and the baseline are comparable.
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';

export type CniVerb = 'ADD' | 'DEL' | 'VERSION';

export interface PluginCall {
  verb: CniVerb;
  containerId: string;
  /** Path of the pod netns (/var/run/netns/NAME) */
  netns: string;
  ifname: string;
  args: string;
  /** The network configuration written to the plugin's stdin */
  config: Record<string, unknown>;
}

export interface PluginOutcome {
  exitCode: number;
  /** Wall time of the exec, spawn to exit, in ms */
  ms: number;
  stdout: string;
  /** First IPv4 address of an ADD result, without prefix length */
  ip?: string;
}

const NETNS_NAME = /^loomt-[a-z0-9-]+$/;
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** A plugin bound to a node netns and a CNI_PATH. */
export interface Plugin {
  label: string;
  exec(call: PluginCall): Promise<PluginOutcome>;
}

export function pluginInNetns(label: string, nodeNetns: string, binary: string, cniPath: string): Plugin {
  if (!NETNS_NAME.test(nodeNetns)) throw new Error(`node netns "${nodeNetns}" must match ${NETNS_NAME}: benchmarks only touch loomt- namespaces`);
  if (!binary.startsWith('/')) throw new Error(`plugin binary "${binary}" must be an absolute path`);
  return {
    label,
    async exec(call) {
      if (!CONTAINER_ID.test(call.containerId)) throw new Error(`container id "${call.containerId}" has characters a CNI runtime would not send`);
      const env: Record<string, string> = {
        CNI_COMMAND: call.verb,
        CNI_CONTAINERID: call.containerId,
        CNI_NETNS: call.netns,
        CNI_IFNAME: call.ifname,
        CNI_ARGS: call.args,
        CNI_PATH: cniPath,
      };
      const input = JSON.stringify(call.config);
      const start = performance.now();
      const r = await execa('ip', ['netns', 'exec', nodeNetns, binary], { env, extendEnv: false, input, reject: false, timeout: 120_000 });
      const ms = performance.now() - start;
      const out: PluginOutcome = { exitCode: r.exitCode ?? -1, ms, stdout: r.stdout };
      if (call.verb === 'ADD' && out.exitCode === 0) {
        const ip = firstIp(r.stdout);
        if (ip) out.ip = ip;
      }
      return out;
    },
  };
}

function firstIp(stdout: string): string | undefined {
  try {
    const parsed = JSON.parse(stdout) as { ips?: Array<{ address?: unknown }> };
    const addr = parsed.ips?.[0]?.address;
    return typeof addr === 'string' ? addr.split('/')[0] : undefined;
  } catch {
    return undefined;
  }
}

/** Wall time of `ip netns exec NODE /bin/true`: the part of every sample that is the netns wrapper. */
export async function wrapperMs(nodeNetns: string): Promise<number> {
  if (!NETNS_NAME.test(nodeNetns)) throw new Error(`node netns "${nodeNetns}" must match ${NETNS_NAME}`);
  const start = performance.now();
  await execa('ip', ['netns', 'exec', nodeNetns, '/bin/true'], { extendEnv: false });
  return performance.now() - start;
}
