// A deterministic corpus of hostile CNI invocations for loom-cni / loom-agent: malformed and huge
// JSON, wrong types in every field, unknown versions, odd environments, CNI_ARGS garbage, path
// traversal, and shell-injection payloads in every string that could reach a command. Payloads only
// ever touch files inside the canary directory, so the test can prove none of them ran.
import { SHIM_PROTOCOL_VERSION } from '../../../cni-binary/src/protocol.js';

export type FuzzCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';

/**
 * - error: the answer must be a CNI error object (exit code 1)
 * - any: success is allowed too (DEL, GC, STATUS and VERSION of a request that is still well-formed)
 */
export type FuzzExpect = 'error' | 'any';

export interface ShimFuzzCase {
  via: 'shim';
  id: number;
  family: string;
  env: Record<string, string>;
  stdin: string | Buffer;
  expect: FuzzExpect;
}

/** A body posted straight to the agent's socket, bypassing loom-cni's own validation (a hostile client). */
export interface RawFuzzCase {
  via: 'raw';
  id: number;
  family: string;
  body: string | Buffer;
  expect: FuzzExpect;
}

export type FuzzCase = ShimFuzzCase | RawFuzzCase;

export interface FuzzContext {
  /** the agent's socket */
  socketPath: string;
  /** directory the injection payloads target; must stay exactly as the test left it */
  canaryDir: string;
  /** an absolute netns path that does not exist (ADD and CHECK must fail on it) */
  missingNetns: string;
  /** attachments GC must keep (the test's control pods) */
  keep: Array<{ containerID: string; ifname: string }>;
  seed: number;
}

/** Shell-injection and path payloads; each names its own canary file. */
export function injections(canary: string): string[] {
  return [
    `;touch ${canary}/semi`,
    `$(touch ${canary}/dollar)`,
    `\`touch ${canary}/tick\``,
    `x\ntouch ${canary}/newline`,
    `x\rtouch ${canary}/cr`,
    `|touch ${canary}/pipe`,
    `&& touch ${canary}/and`,
    `' ; touch ${canary}/squote ; '`,
    `" ; touch ${canary}/dquote ; "`,
    `;rm -rf ${canary}/victim`,
    `$(rm -rf ${canary}/victim)`,
    `a\u0000b`,
    '\u0000',
    '--help',
    '-rf',
    `../../../../..${canary}/traversal`,
    `/var/run/netns/../../..${canary}/traversal2`,
    `${canary}/absolute`,
    '*',
    '%s%n%x%d',
    '${IFS}id',
    '\u202e\ufeff\u200b',
    'é\u00ff\ud83d\ude00',
    'x'.repeat(300),
    ' ',
    '',
  ];
}

/** Values of every JSON type, including edge numbers. */
export const WRONG_VALUES: unknown[] = [
  null, true, false, 0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, '', 'x', '1.1.0', [], [1, 'a'], {}, { a: { b: [] } }, 'x'.repeat(5000),
];

const CONFIG_FIELDS = [
  'cniVersion', 'name', 'type', 'socketPath', 'runtimeConfig', 'runtimeConfig.bandwidth',
  'runtimeConfig.bandwidth.ingressRate', 'runtimeConfig.bandwidth.ingressBurst', 'runtimeConfig.bandwidth.egressRate',
  'runtimeConfig.bandwidth.egressBurst', 'runtimeConfig.portMappings', 'args', 'prevResult', 'capabilities',
  'cni.dev/valid-attachments', 'dns', 'ipam', 'cniVersions',
] as const;

const UNKNOWN_VERSIONS = [
  '0.0.0', '0.1.0', '0.2.0', '0.3.2', '0.4.1', '1.0.1', '1.2.0', '2.0.0', '99.99.99', '1.1.0 ', '\u00a01.1.0', 'v1.1.0',
  '1.1', '1', '', '1.1.0\n', '1.1.0\u0000', '１.１.０', '1.1.0;touch',
];

const CNI_COMMANDS_ODD = ['add', 'Add', 'ADD ', ' ADD', 'ADD\n', 'ADDD', 'AD', 'DEL;ls', 'DEL\u0000', 'VERSION ', 'UPDATE', 'RESULT', 'GET', '*', '', '$(id)'];

const CNI_ARGS_GARBAGE = [
  ';;;', '=', '==', 'a', '=a', 'K8S_POD_NAME', 'K8S_POD_NAME=', 'K8S_POD_NAMESPACE=default', 'IgnoreUnknown=1;K8S_POD_NAME=a;K8S_POD_NAME=b',
  'IgnoreUnknown=1;K8S_POD_NAMESPACE=UPPER;K8S_POD_NAME=x', 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=-x',
  'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=x.', 'IgnoreUnknown=1;K8S_POD_NAMESPACE=a/b;K8S_POD_NAME=x',
  'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=x;K8S_POD_UID=../../etc', 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=x;K8S_POD_INFRA_CONTAINER_ID=a b',
  'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=' + 'a'.repeat(300),
  Array.from({ length: 2000 }, (_, i) => `K${i}=v${i}`).join(';'), 'IgnoreUnknown=1;' + 'x=y;'.repeat(5000), '\n', '\u0000=\u0000', ';=;', 'K8S_POD_NAME=a=b=c',
  'IP=10.0.0.1;MAC=00:00:00:00:00:00', 'IgnoreUnknown=true', 'IgnoreUnknown=1;K8S_POD_NAMESPACE=;K8S_POD_NAME=',
];

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  // 'cni.dev/valid-attachments' contains a dot: treat known top-level keys as one segment.
  const parts = path.startsWith('cni.dev/') ? [path] : path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Build the whole corpus. Same context and seed -> same cases. */
export function buildFuzzCorpus(ctx: FuzzContext): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const rand = prng(ctx.seed);
  const inj = injections(ctx.canaryDir);
  const baseConf = (): Record<string, unknown> => ({ cniVersion: '1.1.0', name: 'loom', type: 'loom-cni', socketPath: ctx.socketPath });
  const gcConf = (): Record<string, unknown> => ({ ...baseConf(), 'cni.dev/valid-attachments': ctx.keep.map((k) => ({ ...k })) });
  const env = (command: string, containerId = `fuzz-${cases.length}`): Record<string, string> => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: ctx.missingNetns,
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin',
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=fuzz;K8S_POD_NAME=p${cases.length}`,
  });
  const expectFor = (command: string): FuzzExpect => (command === 'ADD' || command === 'CHECK' ? 'error' : 'any');
  const shim = (family: string, e: Record<string, string>, stdin: string | Buffer, expect: FuzzExpect) =>
    cases.push({ via: 'shim', id: cases.length, family, env: e, stdin, expect });
  const raw = (family: string, body: string | Buffer, expect: FuzzExpect) => cases.push({ via: 'raw', id: cases.length, family, body, expect });
  const rawRequest = (e: Record<string, unknown>, stdin: unknown, protocolVersion: unknown = SHIM_PROTOCOL_VERSION) =>
    JSON.stringify({ protocolVersion, env: e, stdin });

  // 1. Injection payloads in every environment value that reaches the agent, through the shim and raw.
  const envTargets: Array<[string, (e: Record<string, string>, v: string) => void]> = [
    ['CNI_CONTAINERID', (e, v) => { e.CNI_CONTAINERID = v; }],
    ['CNI_IFNAME', (e, v) => { e.CNI_IFNAME = v; }],
    ['CNI_NETNS', (e, v) => { e.CNI_NETNS = v; }],
    ['CNI_PATH', (e, v) => { e.CNI_PATH = v; }],
    ['K8S_POD_NAME', (e, v) => { e.CNI_ARGS = `IgnoreUnknown=1;K8S_POD_NAMESPACE=fuzz;K8S_POD_NAME=${v}`; }],
    ['K8S_POD_NAMESPACE', (e, v) => { e.CNI_ARGS = `IgnoreUnknown=1;K8S_POD_NAMESPACE=${v};K8S_POD_NAME=p`; }],
    ['K8S_POD_UID', (e, v) => { e.CNI_ARGS = `IgnoreUnknown=1;K8S_POD_NAMESPACE=fuzz;K8S_POD_NAME=p;K8S_POD_UID=${v}`; }],
    ['K8S_POD_INFRA_CONTAINER_ID', (e, v) => { e.CNI_ARGS = `IgnoreUnknown=1;K8S_POD_NAMESPACE=fuzz;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=${v}`; }],
    ['CNI_ARGS extra key', (e, v) => { e.CNI_ARGS = `IgnoreUnknown=1;K8S_POD_NAMESPACE=fuzz;K8S_POD_NAME=p;EXTRA=${v}`; }],
  ];
  for (const command of ['ADD', 'DEL', 'CHECK'] as const) {
    for (const [field, set] of envTargets) {
      for (const v of inj) {
        const e = env(command);
        set(e, v);
        shim(`env-injection ${field}`, e, JSON.stringify(baseConf()), expectFor(command));
        const r = env(command);
        set(r, v);
        raw(`raw env-injection ${field}`, rawRequest(r, JSON.stringify(baseConf())), expectFor(command));
      }
    }
  }

  // 2. Wrong types and injection payloads in every configuration field, for every command.
  for (const command of ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS'] as const) {
    for (const field of CONFIG_FIELDS) {
      for (const v of [...WRONG_VALUES, ...inj]) {
        const conf = command === 'GC' ? gcConf() : baseConf();
        setPath(conf, field, v);
        // GC with a mangled keep-list could legitimately delete the control pods: such cases must fail.
        const expect = command === 'GC' && field === 'cni.dev/valid-attachments' ? 'error' : expectFor(command);
        if (expect === 'error' && command === 'GC' && Array.isArray(v)) continue; // an array is a valid keep-list shape
        shim(`config-types ${field}`, env(command), JSON.stringify(conf), expect);
      }
    }
    // GC keep-list entries with wrong types or payloads (the control pods stay in the list).
    for (const v of [...WRONG_VALUES, ...inj]) {
      const conf = gcConf();
      (conf['cni.dev/valid-attachments'] as unknown[]).push({ containerID: v, ifname: v });
      if (command === 'GC') shim('config-types valid-attachments entry', env('GC'), JSON.stringify(conf), 'any');
    }
  }

  // 3. Unknown CNI versions.
  for (const command of ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS'] as const) {
    for (const v of UNKNOWN_VERSIONS) {
      shim('unknown-version', env(command), JSON.stringify({ ...(command === 'GC' ? gcConf() : baseConf()), cniVersion: v }), 'error');
    }
  }

  // 4. Malformed JSON: every truncation, random byte flips, random bytes, invalid UTF-8, nesting, huge bodies.
  const baseText = JSON.stringify({ ...baseConf(), runtimeConfig: { bandwidth: { ingressRate: 1000000, egressRate: 1000000 } } });
  for (const command of ['ADD', 'DEL', 'CHECK'] as const) {
    for (let cut = 0; cut < baseText.length; cut += 2) shim('malformed truncated', env(command), baseText.slice(0, cut), 'error');
    for (let i = 0; i < 150; i++) {
      const buf = Buffer.from(baseText);
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
      shim('malformed byte-flip', env(command), buf, expectFor(command));
    }
    for (let i = 0; i < 30; i++) {
      const buf = Buffer.alloc(1 + Math.floor(rand() * 400));
      for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rand() * 256);
      shim('malformed random-bytes', env(command), buf, 'error');
    }
    for (const bad of [Buffer.from([0xff, 0xfe]), Buffer.from([0xc3, 0x28]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.concat([Buffer.from('{"cniVersion":"1.1.0","name":"'), Buffer.from([0xf8, 0x88]), Buffer.from('","type":"x"}')])]) {
      shim('malformed invalid-utf8', env(command), bad, 'error');
    }
    const oddJson = [
      '', ' ', '\n', 'null', 'true', '0', '"string"', '[]', '[{}]', '{}', '{"cniVersion":"1.1.0"}',       '{"constructor":{"prototype":{"polluted":1}},"cniVersion":"1.1.0"}', '{"cniVersion":"1.1.0","cniVersion":"9.9.9","name":"a","type":"b"}',
      '{"a":1e999}', '{"a":-0}', baseText + 'garbage', baseText + baseText, '['.repeat(100000), '{"a":'.repeat(50000), '{' + '"k":1,'.repeat(20000) + '"z":1}',
    ];
    for (const t of oddJson) shim('malformed odd-json', env(command), t, 'error');
    // Prototype-pollution keys: well-formed otherwise (JSON.parse makes "__proto__" an own key).
    shim('malformed proto-keys', env(command), `{"__proto__":{"polluted":1},"cniVersion":"1.1.0","name":"x","type":"y","socketPath":${JSON.stringify(ctx.socketPath)}}`, expectFor(command));
    // A UTF-8 byte order mark is dropped when stdin is decoded: the request is still well-formed.
    shim('malformed bom', env(command), '\ufeff' + baseText, expectFor(command));
    // Huge: just over the 1 MiB bound, far over it, and under it on stdin but over it once escaped.
    shim('huge stdin-over-limit', env(command), JSON.stringify({ ...baseConf(), pad: 'x'.repeat(1024 * 1024) }), 'error');
    shim('huge stdin-8MiB', env(command), JSON.stringify({ ...baseConf(), pad: 'y'.repeat(8 * 1024 * 1024) }), 'error');
    shim('huge escaped-over-limit', env(command), JSON.stringify({ ...baseConf(), pad: '\\"'.repeat(400 * 1024) }), 'error');
    shim('huge deep-prevResult', env(command), JSON.stringify({ ...baseConf(), prevResult: { ips: Array.from({ length: 20000 }, () => ({ address: '10.0.0.1/24' })) } }), expectFor(command));
  }

  // 5. Odd environments: missing or empty variables, oversized values, unknown commands.
  for (const command of ['ADD', 'DEL', 'CHECK'] as const) {
    for (const name of ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH', 'CNI_ARGS']) {
      const missing = env(command);
      delete missing[name];
      shim(`env missing ${name}`, missing, JSON.stringify(baseConf()), expectFor(command) === 'error' || ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_IFNAME'].includes(name) ? 'error' : 'any');
      const empty = env(command);
      empty[name] = '';
      shim(`env empty ${name}`, empty, JSON.stringify(baseConf()), expectFor(command) === 'error' || ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_IFNAME'].includes(name) ? 'error' : 'any');
      for (const size of [129, 4096, 65536, 1024 * 1024]) {
        const big = env(command);
        big[name] = (name === 'CNI_NETNS' ? '/' : name === 'CNI_ARGS' ? 'K=' : '') + 'a'.repeat(size);
        shim(`env oversized ${name}`, big, JSON.stringify(baseConf()), ['CNI_PATH', 'CNI_ARGS', 'CNI_NETNS'].includes(name) ? expectFor(command) : 'error');
      }
    }
  }
  for (const c of CNI_COMMANDS_ODD) shim('env odd CNI_COMMAND', { ...env('ADD'), CNI_COMMAND: c }, JSON.stringify(baseConf()), 'error');

  // 6. CNI_ARGS garbage.
  for (const command of ['ADD', 'DEL'] as const) {
    for (const a of CNI_ARGS_GARBAGE) shim('cni-args garbage', { ...env(command), CNI_ARGS: a }, JSON.stringify(baseConf()), expectFor(command));
  }

  // 7. Raw bodies a hostile local client could post (no shim validation at all).
  const rawBodies: Array<string | Buffer> = [
    '', 'x', 'null', '[]', '{}', '"s"', '1', '{"protocolVersion":1}', '{"protocolVersion":1,"env":null,"stdin":null}',
    Buffer.from([0xff, 0x00, 0xfe]), '['.repeat(100000), '{"protocolVersion":1,"env":[],"stdin":"{}"}',
  ];
  for (const b of rawBodies) raw('raw malformed body', b, 'error');
  for (const pv of [0, 2, -1, '1', null, 1.0000001, 1e308, [], {}, true]) raw('raw protocol version', rawRequest(env('ADD'), JSON.stringify(baseConf()), pv), 'error');
  for (const v of WRONG_VALUES) {
    for (const key of ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS', 'CNI_ARGS']) {
      const e: Record<string, unknown> = env('ADD');
      e[key] = v;
      raw(`raw env types ${key}`, rawRequest(e, JSON.stringify(baseConf())), 'error');
    }
    raw('raw stdin types', rawRequest(env('ADD'), v), 'error');
    raw('raw env types env', JSON.stringify({ protocolVersion: SHIM_PROTOCOL_VERSION, env: v, stdin: JSON.stringify(baseConf()) }), 'error');
  }
  // Commands the shim would never forward.
  for (const c of [...CNI_COMMANDS_ODD, 'VERSION']) raw('raw odd command', rawRequest({ ...env('ADD'), CNI_COMMAND: c }, JSON.stringify(baseConf())), 'error');
  return cases;
}
