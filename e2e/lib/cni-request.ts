// What containerd's CRI plugin hands a CNI plugin, built as data (pure): environment and stdin for
// ADD and DEL of one plugin of a conflist, and for containerd's own loopback call.
// Facts: /work/shared/notes/cni-and-runtimes.md.
import { randomInt } from 'node:crypto';
import { bandwidthFromAnnotations } from './quantity.js';

/** A hostPort mapping as containerd passes it (PascalCase). */
export interface CniPortMapping {
  HostPort: number;
  ContainerPort: number;
  Protocol: 'tcp' | 'udp' | 'sctp';
  HostIP: string;
}

/** What the runtime knows about a sandbox when it calls CNI. */
export interface SandboxInfo {
  sandboxId: string;
  /** path of the pod netns, e.g. /var/run/netns/NAME */
  netnsPath: string;
  podNamespace: string;
  podName: string;
  podUid: string;
  annotations: Record<string, string>;
  portMappings: CniPortMapping[];
}

/** One plugin entry of a conflist (at least `type`; `capabilities` decides what runtimeConfig it gets). */
export interface ConflistPlugin {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: ConflistPlugin[];
}

export interface CniInvocation {
  /** plugin executable name, looked up in CNI_PATH */
  type: string;
  env: Record<string, string>;
  stdin: string;
}

/** containerd's loopback network (go-cni's built-in config). */
export const LOOPBACK_CONFLIST: Conflist = { cniVersion: '0.3.1', name: 'cni-loopback', plugins: [{ type: 'loopback' }] };

/** CNI_ARGS with the K8S_POD_* keys in a random order each call, as containerd (a Go map) sends them. */
export function cniArgs(s: SandboxInfo): string {
  const pairs: Array<[string, string]> = [
    ['K8S_POD_NAMESPACE', s.podNamespace],
    ['K8S_POD_NAME', s.podName],
    ['K8S_POD_INFRA_CONTAINER_ID', s.sandboxId],
    ['K8S_POD_UID', s.podUid],
  ];
  for (let i = pairs.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [pairs[i], pairs[j]] = [pairs[j]!, pairs[i]!];
  }
  return ['IgnoreUnknown=1', ...pairs.map(([k, v]) => `${k}=${v}`)].join(';');
}

/** Capability arguments containerd offers; a plugin receives only those it declares. */
export function capabilityArgs(s: SandboxInfo): Record<string, unknown> {
  const args: Record<string, unknown> = {
    portMappings: s.portMappings,
    'io.kubernetes.cri.pod-annotations': s.annotations,
  };
  const bandwidth = bandwidthFromAnnotations(s.annotations);
  if (bandwidth) args.bandwidth = bandwidth;
  return args;
}

/** libcni's per-plugin config: the plugin entry plus the list's name and cniVersion, runtimeConfig, prevResult. */
export function pluginConfig(list: Conflist, plugin: ConflistPlugin, s: SandboxInfo, prevResult?: unknown): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  const offered = capabilityArgs(s);
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, enabled] of Object.entries(plugin.capabilities ?? {})) {
    if (enabled && offered[cap] !== undefined) runtimeConfig[cap] = offered[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  if (prevResult !== undefined) conf.prevResult = prevResult;
  return conf;
}

export interface InvocationOptions {
  command: 'ADD' | 'DEL';
  ifname: string;
  cniPath: string;
  /** false for containerd's RemovePodSandbox DEL: empty CNI_NETNS */
  withNetns: boolean;
  prevResult?: unknown;
}

export function invocation(list: Conflist, plugin: ConflistPlugin, s: SandboxInfo, o: InvocationOptions): CniInvocation {
  return {
    type: plugin.type,
    env: {
      CNI_COMMAND: o.command,
      CNI_CONTAINERID: s.sandboxId,
      CNI_NETNS: o.withNetns ? s.netnsPath : '',
      CNI_IFNAME: o.ifname,
      CNI_ARGS: cniArgs(s),
      CNI_PATH: o.cniPath,
    },
    stdin: JSON.stringify(pluginConfig(list, plugin, s, o.prevResult)),
  };
}
