import assert from 'node:assert/strict';
import { CniFailure } from '../src/errors.js';
import { MAX_REQUEST_BYTES, SHIM_PROTOCOL_VERSION } from '../src/protocol.js';
import {
  ADD_CHECK_TIMEOUT_MS,
  DEFAULT_TIMEOUT_MS,
  decodeJson,
  encodeShimRequest,
  errorVersionOf,
  isValidIfname,
  parseCommand,
  resolveSocketPath,
  timeoutFor,
  validateEnv,
  validateNetConf,
  versionAnswer,
} from '../src/request.js';
import { DEFAULT_SOCKET_PATH, SUPPORTED_VERSIONS, type LoomNetConf } from '../src/spec.js';

function failsWith(fn: () => unknown, code: number, msgPart?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CniFailure, `expected CniFailure, got ${String(err)}`);
    assert.equal(err.code, code);
    if (msgPart) assert.match(`${err.message} ${err.details ?? ''}`, msgPart);
    return true;
  });
}

const conf: LoomNetConf = { cniVersion: '1.0.0', name: 'loom', type: 'loom' };
const addEnv = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'a'.repeat(64), CNI_IFNAME: 'eth0', CNI_NETNS: '/var/run/netns/cni-1' };

describe('cni request: parseCommand', () => {
  it('accepts every CNI verb', () => {
    for (const c of ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION']) assert.equal(parseCommand(c), c);
  });
  it('rejects missing, empty, unknown and lower-case commands with code 4', () => {
    failsWith(() => parseCommand(undefined), 4, /CNI_COMMAND is not set/);
    failsWith(() => parseCommand(''), 4);
    failsWith(() => parseCommand('add'), 4, /not a known command/);
    failsWith(() => parseCommand('FOO'), 4, /ADD, DEL, CHECK, STATUS, GC, VERSION/);
  });
});

describe('cni request: versionAnswer', () => {
  it('answers 1.1.0 for empty, invalid or version-less stdin', () => {
    for (const stdin of [undefined, '', 'not json', '[]', '{"cniVersion": 5}', '{"cniVersion": "9.9.9"}']) {
      assert.deepEqual(versionAnswer(stdin), { cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
    }
  });
  it('echoes each supported config version', () => {
    for (const v of SUPPORTED_VERSIONS) assert.equal(versionAnswer(JSON.stringify({ cniVersion: v })).cniVersion, v);
  });
});

describe('cni request: config', () => {
  it('decodeJson fails with 6 and says why', () => {
    failsWith(() => decodeJson('{'), 6, /not valid JSON/);
    failsWith(() => decodeJson('  '), 6, /stdin is empty/);
    assert.deepEqual(decodeJson('{"a":1}'), { a: 1 });
  });
  it('validateNetConf requires an object with string cniVersion, name, type (7, field named)', () => {
    failsWith(() => validateNetConf([]), 7, /JSON object/);
    failsWith(() => validateNetConf(null), 7, /JSON object/);
    failsWith(() => validateNetConf({ name: 'n', type: 't' }), 7, /"cniVersion"/);
    failsWith(() => validateNetConf({ cniVersion: '1.0.0', type: 't' }), 7, /"name"/);
    failsWith(() => validateNetConf({ cniVersion: '1.0.0', name: 'n', type: 3 }), 7, /"type".*a number/);
    assert.equal(validateNetConf({ ...conf, extra: true }).name, 'loom');
  });
  it('validateNetConf rejects unsupported versions with 1 and lists the supported ones', () => {
    failsWith(() => validateNetConf({ ...conf, cniVersion: '0.2.0' }), 1, /0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0/);
  });
  it('errorVersionOf uses the config version only when supported', () => {
    assert.equal(errorVersionOf({ cniVersion: '0.4.0' }), '0.4.0');
    assert.equal(errorVersionOf({ cniVersion: '7.0.0' }), '1.1.0');
    assert.equal(errorVersionOf('x'), '1.1.0');
  });
  it('resolveSocketPath defaults and demands an absolute path', () => {
    assert.equal(resolveSocketPath(conf), DEFAULT_SOCKET_PATH);
    assert.equal(resolveSocketPath({ ...conf, socketPath: '/run/x.sock' }), '/run/x.sock');
    failsWith(() => resolveSocketPath({ ...conf, socketPath: 'run/x.sock' }), 7, /socketPath/);
    failsWith(() => resolveSocketPath({ ...conf, socketPath: 42 } as unknown as LoomNetConf), 7, /socketPath/);
  });
});

describe('cni request: validateEnv', () => {
  it('forwards exactly the CNI variables, values intact', () => {
    const env = { ...addEnv, CNI_ARGS: 'K8S_POD_NAME=a;IgnoreUnknown=1', CNI_PATH: '/opt/cni/bin', PATH: '/bin', HOME: '/root' };
    assert.deepEqual(validateEnv('ADD', env), {
      CNI_COMMAND: 'ADD', CNI_CONTAINERID: addEnv.CNI_CONTAINERID, CNI_IFNAME: 'eth0', CNI_NETNS: '/var/run/netns/cni-1',
      CNI_ARGS: 'K8S_POD_NAME=a;IgnoreUnknown=1', CNI_PATH: '/opt/cni/bin',
    });
  });
  it('requires container id and ifname for ADD/DEL/CHECK and netns for ADD/CHECK', () => {
    for (const cmd of ['ADD', 'DEL', 'CHECK'] as const) {
      failsWith(() => validateEnv(cmd, { ...addEnv, CNI_CONTAINERID: undefined }), 4, /CNI_CONTAINERID is required/);
      failsWith(() => validateEnv(cmd, { ...addEnv, CNI_IFNAME: '' }), 4, /CNI_IFNAME is required/);
    }
    failsWith(() => validateEnv('ADD', { ...addEnv, CNI_NETNS: '' }), 4, /CNI_NETNS is required for ADD/);
    failsWith(() => validateEnv('CHECK', { ...addEnv, CNI_NETNS: undefined }), 4, /CNI_NETNS/);
  });
  it('accepts DEL with an empty or missing netns', () => {
    assert.equal(validateEnv('DEL', { ...addEnv, CNI_NETNS: '' }).CNI_NETNS, '');
    assert.ok(!('CNI_NETNS' in validateEnv('DEL', { ...addEnv, CNI_NETNS: undefined })));
  });
  it('checks formats and names the field', () => {
    failsWith(() => validateEnv('ADD', { ...addEnv, CNI_CONTAINERID: 'a b' }), 4, /CNI_CONTAINERID/);
    failsWith(() => validateEnv('ADD', { ...addEnv, CNI_CONTAINERID: 'x'.repeat(129) }), 4, /CNI_CONTAINERID/);
    failsWith(() => validateEnv('ADD', { ...addEnv, CNI_IFNAME: 'a/b' }), 4, /CNI_IFNAME/);
    failsWith(() => validateEnv('ADD', { ...addEnv, CNI_NETNS: 'netns/x' }), 4, /CNI_NETNS.*absolute path/);
    failsWith(() => validateEnv('ADD', { ...addEnv, CNI_ARGS: 'novalue;K=V' }), 4, /CNI_ARGS/);
  });
  it('needs no container variables for STATUS and GC', () => {
    assert.deepEqual(validateEnv('STATUS', { CNI_COMMAND: 'STATUS' }), { CNI_COMMAND: 'STATUS' });
    assert.deepEqual(validateEnv('GC', { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }), { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' });
    assert.deepEqual(validateEnv('STATUS', { CNI_COMMAND: 'STATUS', CNI_CONTAINERID: 'dummy id', CNI_IFNAME: '', CNI_NETNS: 'x' }), { CNI_COMMAND: 'STATUS' });
  });
  it('isValidIfname enforces the kernel rules', () => {
    for (const ok of ['eth0', 'a', 'x'.repeat(15), 'net-1.2_x']) assert.ok(isValidIfname(ok), ok);
    for (const bad of ['', '.', '..', 'x'.repeat(16), 'a b', 'a\tb', 'a/b']) assert.ok(!isValidIfname(bad), bad);
  });
});

describe('cni request: encodeShimRequest and timeouts', () => {
  it('builds the versioned shim request with stdin verbatim', () => {
    const stdin = '{ "cniVersion": "1.0.0", "name": "loom", "type": "loom" }\n';
    const body = JSON.parse(encodeShimRequest({ CNI_COMMAND: 'GC' }, stdin)) as unknown;
    assert.deepEqual(body, { protocolVersion: SHIM_PROTOCOL_VERSION, env: { CNI_COMMAND: 'GC' }, stdin });
  });
  it('rejects a request that encodes beyond the limit with 7 naming the limit', () => {
    const stdin = '"'.repeat(MAX_REQUEST_BYTES / 2 + 10); // each quote doubles when escaped
    failsWith(() => encodeShimRequest({ CNI_COMMAND: 'ADD' }, stdin), 7, new RegExp(String(MAX_REQUEST_BYTES)));
  });
  it('gives ADD and CHECK 120 s, the rest 60 s', () => {
    assert.equal(ADD_CHECK_TIMEOUT_MS, 120_000);
    assert.equal(DEFAULT_TIMEOUT_MS, 60_000);
    assert.equal(timeoutFor('ADD'), 120_000);
    assert.equal(timeoutFor('CHECK'), 120_000);
    for (const c of ['DEL', 'STATUS', 'GC'] as const) assert.equal(timeoutFor(c), 60_000);
  });
});
