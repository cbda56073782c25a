// NetworkPolicy compiler benchmark: a synthetic cluster of 100,000 pods / 10,000 namespaces /
// 10,000 policies (mixed selectors, ipBlocks, named ports), one node with ~100 local pods.
// Prints one JSON object. Run: node --expose-gc --import tsx bench/policy-compile/run.ts
// Options (env): PODS, NAMESPACES, POLICIES, LOCAL_PODS, REPEAT (single-change samples).
import { performance } from 'node:perf_hooks';
import { PolicyCompiler } from '../../node-agent/src/policy/compiler.js';
import type { FlowDiff, LocalPod, NamespaceInfo, PodInfo, V1NetworkPolicy } from '../../node-agent/src/policy/types.js';

const PODS = Number(process.env.PODS ?? 100_000);
const NAMESPACES = Number(process.env.NAMESPACES ?? 10_000);
const POLICIES = Number(process.env.POLICIES ?? 10_000);
const LOCAL_PODS = Number(process.env.LOCAL_PODS ?? 100);
const REPEAT = Number(process.env.REPEAT ?? 21);
const TEAMS = 100;
const ENVS = ['prod', 'staging', 'dev'];
const TIERS = ['web', 'api', 'db'];

let seed = 12345;
function rnd(n: number): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
}

const nsName = (i: number) => `ns-${i}`;
const podIp = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

function makeNamespaces(): NamespaceInfo[] {
  const out: NamespaceInfo[] = [];
  for (let i = 0; i < NAMESPACES; i++) {
    out.push({ name: nsName(i), labels: { 'kubernetes.io/metadata.name': nsName(i), team: `t${i % TEAMS}`, env: ENVS[i % 3] as string } });
  }
  return out;
}

function makePod(i: number, labels?: Record<string, string>): PodInfo {
  const ns = i % NAMESPACES;
  return {
    namespace: nsName(ns),
    name: `pod-${i}`,
    labels: labels ?? { app: `app${i % 10}`, tier: TIERS[(i >> 3) % 3] as string, 'pod-template-hash': `h${i % 7}` },
    ips: [podIp(i + 1)],
    nodeName: `node-${i % 1000}`,
    containerPorts: [
      { name: 'http', containerPort: i % 2 === 0 ? 8080 : 9090, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9100, protocol: 'TCP' },
    ],
  };
}

function makePolicy(i: number, variant = 0): V1NetworkPolicy {
  const namespace = nsName(i % NAMESPACES);
  const kind = i % 6;
  const meta = { namespace, name: `pol-${i}`, uid: `uid-${i}` };
  const t = (k: number) => `t${(i + k) % TEAMS}`;
  switch (kind) {
    case 0: // pods of one app, from web tier pods of the namespace, numeric port
      return { metadata: meta, spec: { podSelector: { matchLabels: { app: `app${i % 10}` } }, ingress: [{ _from: [{ podSelector: { matchLabels: { tier: 'web' } } }], ports: [{ protocol: 'TCP', port: 8080 + variant }] }] } };
    case 1: // from every pod of one team's namespaces, named port (resolves per target)
      return { metadata: meta, spec: { podSelector: {}, ingress: [{ _from: [{ namespaceSelector: { matchLabels: { team: t(1) } } }], ports: [{ port: 'http' }, { protocol: 'TCP', port: 9100 + variant }] }] } };
    case 2: // ipBlock with except
      return { metadata: meta, spec: { podSelector: { matchLabels: { tier: 'api' } }, ingress: [{ _from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', `10.0.${i % 256}.0/24`] } }], ports: [{ protocol: 'TCP', port: 443 + variant }] }] } };
    case 3: // egress: db tier of one team (AND), plus DNS to ns-0, port range
      return {
        metadata: meta,
        spec: {
          podSelector: {},
          policyTypes: ['Egress'],
          egress: [
            { to: [{ namespaceSelector: { matchLabels: { team: t(2) } }, podSelector: { matchLabels: { tier: 'db' } } }], ports: [{ protocol: 'TCP', port: 5432, endPort: 5440 + variant }] },
            { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': nsName(0) } } }], ports: [{ protocol: 'UDP', port: 53 }] },
          ],
        },
      };
    case 4: // default deny all
      return { metadata: meta, spec: { podSelector: variant ? { matchLabels: { tier: 'db' } } : {}, policyTypes: ['Ingress', 'Egress'] } };
    default: // matchExpressions, egress named port to two teams' api/web pods
      return {
        metadata: meta,
        spec: {
          podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] },
          policyTypes: ['Egress'],
          egress: [
            {
              to: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: [t(3), t(4)] }] }, podSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] } }],
              ports: [{ port: variant ? 'metrics' : 'http' }],
            },
          ],
        },
      };
  }
}

function heapMB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return Math.round(process.memoryUsage().heapUsed / 1e6);
}

/** Run `f`, returning [wall ms, cpu ms] (cpu shows what the compiler costs on a contended machine). */
function timed(f: () => void): [number, number] {
  const c = process.cpuUsage();
  const s = performance.now();
  f();
  const u = process.cpuUsage(c);
  return [performance.now() - s, (u.user + u.system) / 1000];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}
const ms = (x: number) => Math.round(x * 100) / 100;

function main(): void {
  const heapStart = heapMB();
  const namespaces = makeNamespaces();
  const pods: PodInfo[] = [];
  for (let i = 0; i < PODS; i++) pods.push(makePod(i));
  const policies: V1NetworkPolicy[] = [];
  for (let i = 0; i < POLICIES; i++) policies.push(makePolicy(i));
  const localIdx = new Set<number>();
  while (localIdx.size < LOCAL_PODS) localIdx.add(rnd(PODS));
  const localPods: LocalPod[] = [...localIdx].map((i, k) => ({ namespace: (pods[i] as PodInfo).namespace, name: (pods[i] as PodInfo).name, ip: podIp(i + 1), ofport: 10 + k }));
  const heapInputs = heapMB();

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const compiler = new PolicyCompiler({ nodeAddresses: ['192.168.0.10'] });
  const initial = compiler.load({ pods, namespaces, policies, localPods });
  const fullMs = performance.now() - t0;
  const fullCpu = process.cpuUsage(cpu0);
  const heapAfter = heapMB();
  const flows = compiler.flows();
  const byTable: Record<number, number> = {};
  for (const f of flows) byTable[f.table] = (byTable[f.table] ?? 0) + 1;

  // Each scenario: REPEAT samples of one event, wall and CPU time, size of the resulting diff.
  const stats = (samples: Array<[number, number, number]>) => ({
    medianMs: ms(median(samples.map((x) => x[0]))),
    maxMs: ms(Math.max(...samples.map((x) => x[0]))),
    medianCpuMs: ms(median(samples.map((x) => x[1]))),
    medianDiffFlows: median(samples.map((x) => x[2])),
  });
  const run = (event: () => FlowDiff | number): [number, number, number] => {
    let size = 0;
    const [wall, cpu] = timed(() => {
      const d = event();
      size = typeof d === 'number' ? d : d.add.length + d.modify.length + d.delete.length;
    });
    return [wall, cpu, size];
  };

  // a pod anywhere in the cluster changes labels (tier web <-> db: peer of some active policies)
  const podLabel: Array<[number, number, number]> = [];
  for (let r = 0; r < REPEAT; r++) {
    const i = rnd(PODS);
    const p = pods[i] as PodInfo;
    const flipped = { ...p, labels: { ...p.labels, tier: p.labels.tier === 'web' ? 'db' : 'web' } };
    podLabel.push(run(() => compiler.upsertPod(flipped)));
    pods[i] = flipped;
  }
  // a local pod changes labels (changes which policies select it)
  const localLabel: Array<[number, number, number]> = [];
  for (let r = 0; r < REPEAT; r++) {
    const lp = localPods[rnd(localPods.length)] as LocalPod;
    const i = Number(lp.name.slice(4));
    const p = pods[i] as PodInfo;
    const flipped = { ...p, labels: { ...p.labels, app: p.labels.app === 'app0' ? 'app1' : 'app0' } };
    localLabel.push(run(() => compiler.upsertPod(flipped)));
    pods[i] = flipped;
  }
  // a new pod is attached to this node (CNI ADD path): pod object + local attachment
  const newLocal: Array<[number, number, number]> = [];
  for (let r = 0; r < REPEAT; r++) {
    const i = PODS + r;
    const p = makePod(i);
    newLocal.push(
      run(() => {
        const a = compiler.upsertPod(p);
        const b = compiler.upsertLocalPod({ namespace: p.namespace, name: p.name, ip: podIp(i + 1), ofport: 5000 + r });
        return a.add.length + a.modify.length + a.delete.length + b.add.length + b.modify.length + b.delete.length;
      }),
    );
  }
  // a policy selecting local pods is updated; then any policy of the cluster
  const activeNs = new Set(localPods.map((l) => l.namespace));
  const activeIdx = policies.map((_, i) => i).filter((i) => activeNs.has(nsName(i % NAMESPACES)));
  const activePolicy: Array<[number, number, number]> = [];
  for (let r = 0; r < REPEAT; r++) {
    const pol = makePolicy(activeIdx[rnd(activeIdx.length)] as number, 1 + (r % 2));
    activePolicy.push(run(() => compiler.upsertPolicy(pol)));
  }
  const anyPolicy: Array<[number, number, number]> = [];
  for (let r = 0; r < REPEAT; r++) {
    const pol = makePolicy(rnd(POLICIES), 1 + (r % 2));
    anyPolicy.push(run(() => compiler.upsertPolicy(pol)));
  }

  const result = {
    benchmark: 'policy-compile',
    node: process.version,
    cluster: { pods: PODS, namespaces: NAMESPACES, policies: POLICIES, localPods: LOCAL_PODS },
    full: {
      ms: Math.round(fullMs),
      cpuMs: Math.round((fullCpu.user + fullCpu.system) / 1000),
      flows: flows.length,
      flowsByTable: byTable,
      rules: compiler.rules().size,
      activePolicies: compiler.activePolicyCount(),
      warnings: initial.warnings.length,
      heapMB: { inputs: heapInputs - heapStart, afterCompile: heapAfter, compilerState: heapAfter - heapInputs },
    },
    singleChange: {
      podLabelChange: stats(podLabel),
      localPodLabelChange: stats(localLabel),
      newLocalPod: stats(newLocal),
      activePolicyUpdate: stats(activePolicy),
      anyPolicyUpdate: stats(anyPolicy),
      samples: REPEAT,
    },
    targets: { fullMs: 5000, heapMB: 1500, singleChangeMs: 50 },
  };
  console.log(JSON.stringify(result, null, 2));
}

main();
