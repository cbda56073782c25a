// POST /v1/trace: resolve SRC and DST, build the packet OVS should trace (as it would enter br-int on
// this node), run `ovs-appctl ofproto/trace` with conntrack simulated as a new connection, explain.
import { execa } from 'execa';
import { isIPv4 } from 'node:net';
import { remoteNodesOf } from '../agent/overlay.js';
import { VIRTUAL_ROUTER_MAC } from '../pipeline/pipeline.js';
import { podInfoOf } from '../agent/policy-controller.js';
import { cidrContains, parseCidr, parseIpv4 } from '../util/ipv4.js';
import { explainTrace, type ExplainContext } from './explain.js';
import { isolatingPolicies } from './policies.js';
import { buildOwnerIndex, podLabel } from './owners.js';
import { parseTrace } from './trace-parse.js';
import type { AgentIntrospection, LocalAttachmentView, TraceEndpoint, TraceProtocol, TraceRequest, TraceResult } from './types.js';

export class TraceInputError extends Error {}

const POD_REF_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const SOURCE_PORT = 40000;

interface Endpoint extends TraceEndpoint {
  attachment?: LocalAttachmentView;
}

export function validateTraceRequest(body: unknown): Required<Pick<TraceRequest, 'src' | 'dst' | 'proto'>> & { port?: number } {
  const o = (body ?? {}) as Record<string, unknown>;
  const src = o['src'];
  const dst = o['dst'];
  if (typeof src !== 'string' || typeof dst !== 'string') throw new TraceInputError('src and dst are required: a pod as NAMESPACE/NAME or an IPv4 address');
  const proto = o['proto'] ?? 'tcp';
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'icmp') throw new TraceInputError(`proto must be tcp, udp or icmp, got ${JSON.stringify(proto)}`);
  let port = o['port'];
  if (proto === 'icmp') {
    if (port !== undefined) throw new TraceInputError('--port does not apply to icmp');
    return { src, dst, proto };
  }
  port ??= 80;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new TraceInputError(`port must be 1..65535, got ${JSON.stringify(port)}`);
  return { src, dst, proto, port };
}

/** A pod "ns/name" or an IP -> where it is (this node, another node, outside the cluster). */
export function resolveEndpoint(spec: string, agent: AgentIntrospection): Endpoint {
  const local = agent.attachments();
  const pods = agent.pods();
  const ref = POD_REF_RE.exec(spec);
  if (ref) {
    const [ns, name] = [ref[1] as string, ref[3] as string];
    const a = local.find((x) => x.podNamespace === ns && x.podName === name);
    if (a) return { spec, ip: a.ip, pod: spec, node: agent.nodeName, local: true, attachment: a };
    const p = pods.map(podInfoOf).find((x) => x && x.namespace === ns && x.name === name);
    if (!p) throw new TraceInputError(`pod ${spec} is not known: not attached on node ${agent.nodeName} and not in the agent's pod cache (check the name with kubectl get pod -n ${ns} ${name})`);
    const ip = p.ips.find((x) => isIPv4(x));
    if (!ip) throw new TraceInputError(`pod ${spec} has no IPv4 address yet (status.podIP is empty)`);
    return { spec, ip, pod: spec, node: p.nodeName, local: p.nodeName === agent.nodeName };
  }
  if (!isIPv4(spec)) throw new TraceInputError(`"${spec}" is neither a pod (NAMESPACE/NAME) nor an IPv4 address`);
  const a = local.find((x) => x.ip === spec);
  if (a) return { spec, ip: spec, pod: podLabel(a), node: agent.nodeName, local: true, attachment: a };
  const p = pods.map(podInfoOf).find((x) => x && x.ips.includes(spec) && x.nodeName);
  if (p) return { spec, ip: spec, pod: `${p.namespace}/${p.name}`, node: p.nodeName, local: p.nodeName === agent.nodeName };
  const n = parseIpv4(spec)!;
  const net = agent.network();
  if (net && cidrContains(parseCidr(net.podCidr)!, n)) return { spec, ip: spec, node: agent.nodeName, local: true };
  for (const r of remoteNodesOf(agent.nodes(), agent.nodeName).values()) {
    if (cidrContains(parseCidr(r.podCidr)!, n)) return { spec, ip: spec, node: r.name, local: false };
  }
  return { spec, ip: spec, node: '', local: false };
}

function mac(what: string, v: string): string {
  if (!MAC_RE.test(v)) throw new Error(`${what} "${v}" is not a MAC address`);
  return v;
}
function ip(what: string, v: string): string {
  if (!isIPv4(v)) throw new Error(`${what} "${v}" is not an IPv4 address`);
  return v;
}
function uint(what: string, v: number): string {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`${what} ${v} is not a valid number`);
  return String(v);
}

/** The ofproto/trace flow for a packet from src to dst as it enters br-int on this node. */
export function injectedFlow(src: Endpoint, dst: Endpoint, proto: TraceProtocol, port: number | undefined, agent: AgentIntrospection): string {
  const net = agent.network();
  if (!net) throw new TraceInputError(`the agent on ${agent.nodeName} has no datapath yet (${agent.notReadyReason() ?? 'starting'})`);
  // protocol-specific field names: OVS 3.1's trace parser rejects tp_dst after `udp`
  const l4 = proto === 'icmp' ? ['icmp', 'icmp_type=8', 'icmp_code=0'] : [proto, `${proto}_src=${SOURCE_PORT}`, `${proto}_dst=${uint('port', port ?? 80)}`];
  const dstMac = dst.attachment?.mac ?? net.gatewayMac;
  let head: string[];
  let ttl = 64;
  if (src.attachment) {
    head = [`in_port=${uint('ofport', src.attachment.ofport)}`, `dl_src=${mac('source MAC', src.attachment.mac)}`, `dl_dst=${mac('destination MAC', dstMac)}`];
  } else if (!dst.local) {
    throw new TraceInputError(
      `neither ${src.spec} (${src.node ? `node ${src.node}` : 'outside the cluster'}) nor ${dst.spec} (${dst.node ? `node ${dst.node}` : 'outside the cluster'}) is on node ${agent.nodeName}: ` +
        (src.node ? `run loomctl trace on node ${src.node}` : dst.node ? `run loomctl trace on node ${dst.node}` : 'nothing to trace here'),
    );
  } else if (src.node && src.node !== agent.nodeName) {
    // arrives through the tunnel from the source's node
    const t = agent.tunnel();
    const peer = remoteNodesOf(agent.nodes(), agent.nodeName).get(src.node);
    if (!t || !peer) throw new TraceInputError(`node ${src.node} is not a tunnel peer of ${agent.nodeName}; is the overlay configured?`);
    head = [`in_port=${uint('tunnel ofport', t.ofport)}`, `tun_id=${uint('vni', t.vni)}`, `tun_src=${ip('tunnel source', peer.nodeIp)}`, `tun_dst=${ip('tunnel destination', t.nodeIp)}`, `dl_src=${mac('gateway MAC', net.gatewayMac)}`, `dl_dst=${VIRTUAL_ROUTER_MAC}`];
    ttl = 63;
  } else {
    // from this node or from outside the cluster: arrives through the gateway port
    head = [`in_port=${uint('gateway ofport', net.gatewayOfport)}`, `dl_src=${mac('gateway MAC', net.gatewayMac)}`, `dl_dst=${mac('destination MAC', dstMac)}`];
  }
  const flow = [...head, `nw_src=${ip('source', src.ip)}`, `nw_dst=${ip('destination', dst.ip)}`, `nw_ttl=${ttl}`, ...l4];
  // ofproto/trace wants the protocol keyword before its fields
  const proto0 = l4[0] as string;
  return [proto0, ...flow.filter((x) => x !== proto0)].join(',');
}

export async function runOfprotoTrace(ctl: string, bridge: string, flow: string, timeoutMs = 10000): Promise<string> {
  if (!ctl.startsWith('/') || /\s/.test(ctl)) throw new Error(`vswitchd control socket "${ctl}" must be an absolute path without spaces`);
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) throw new Error(`bridge name "${bridge}" is invalid`);
  if (!/^[a-z0-9_=,.:/x]+$/i.test(flow) || flow.startsWith('-')) throw new Error(`trace flow "${flow}" contains unexpected characters`);
  const r = await execa('ovs-appctl', ['-t', ctl, 'ofproto/trace', bridge, flow, '--ct-next', 'trk,new'], { reject: false, timeout: timeoutMs });
  if (r.exitCode !== 0 || r.timedOut) {
    throw new Error(`ovs-appctl ofproto/trace via ${ctl} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}): ${(r.stderr || r.stdout).trim()}; is ovs-vswitchd running?`);
  }
  return r.stdout;
}

export function explainContext(agent: AgentIntrospection): ExplainContext {
  const attachments = agent.attachments();
  const pods = agent.pods();
  const policies = agent.networkPolicies();
  const labelsOf = (key: string) => pods.find((p) => `${p.metadata?.namespace}/${p.metadata?.name}` === key)?.metadata?.labels ?? {};
  const remote = [...remoteNodesOf(agent.nodes(), agent.nodeName).values()];
  const owners = buildOwnerIndex({
    attachments,
    nodeNames: remote.map((r) => r.name),
    rules: agent.ruleIndex(),
    isolatingPolicies: (pod, direction) => isolatingPolicies(policies, pod.split('/')[0] as string, labelsOf(pod), direction),
  });
  const portNames = new Map<number, string>();
  const net = agent.network();
  if (net) portNames.set(net.gatewayOfport, 'the gateway (this node\'s network stack)');
  const t = agent.tunnel();
  if (t) portNames.set(t.ofport, 'the tunnel');
  for (const a of attachments) portNames.set(a.ofport, `pod ${podLabel(a)} (port ${a.hostIfname})`);
  const podByIp = new Map(attachments.filter((a) => a.podNamespace && a.podName).map((a) => [a.ip, `${a.podNamespace}/${a.podName}`] as const));
  return { owners, portNames, ...(t ? { tunnelOfport: t.ofport } : {}), nodeByIp: new Map(remote.map((r) => [r.nodeIp, r.name])), podByIp };
}

export async function trace(agent: AgentIntrospection, body: unknown, run: typeof runOfprotoTrace = runOfprotoTrace): Promise<TraceResult> {
  const req = validateTraceRequest(body);
  const src = resolveEndpoint(req.src, agent);
  const dst = resolveEndpoint(req.dst, agent);
  const flow = injectedFlow(src, dst, req.proto, req.port, agent);
  const raw = await run(agent.vswitchdCtl, agent.bridge, flow);
  const e = explainTrace(parseTrace(raw), explainContext(agent));
  const strip = ({ attachment: _a, ...rest }: Endpoint): TraceEndpoint => rest;
  const result: TraceResult = {
    node: agent.nodeName,
    src: strip(src),
    dst: strip(dst),
    injected: flow,
    steps: e.steps,
    verdict: e.verdict,
    reason: e.reason,
    decisions: e.decisions,
    ...(e.output ? { output: e.output } : {}),
    raw,
  };
  if (e.tunnelTo) {
    const node = e.tunnelTo.node || dst.node;
    result.continuesOn = {
      node,
      nodeIp: e.tunnelTo.nodeIp,
      hint: `continues on node ${node || e.tunnelTo.nodeIp}, where ingress policy is checked: run "loomctl trace ${req.src} ${req.dst}${req.proto === 'icmp' ? ' --proto icmp' : ` --proto ${req.proto} --port ${req.port}`}" there`,
    };
  }
  return result;
}
