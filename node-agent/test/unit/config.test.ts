import assert from 'node:assert/strict';
import {
  ConfigError, DEFAULT_CONFIG, FIELDS, HelpRequested, bridgeMgmtSocket, cniConfPath, envName, flagName,
  isStandalone, loadConfig, ovsdbRemote, podMtu, type AgentConfig,
} from '../../src/config/index.js';

const BASE_ENV = { NODE_NAME: 'node-1' };

function expectProblems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return [...err.problems];
  }
  assert.fail('expected loadConfig to throw ConfigError');
}

function reader(files: Record<string, string>) {
  return (path: string): string => {
    const text = files[path];
    if (text === undefined) throw new Error(`ENOENT: no such file ${path}`);
    return text;
  };
}

describe('config: loadConfig', () => {
  it('fills every default and takes nodeName from NODE_NAME', () => {
    const config = loadConfig({ argv: [], env: BASE_ENV });
    assert.deepEqual(config, { ...DEFAULT_CONFIG, nodeName: 'node-1' });
    assert.equal(config.clusterCIDR, '10.244.0.0/16');
    assert.equal(config.serviceCIDR, '10.96.0.0/12');
    assert.equal(config.tunnelPort, 4789);
    assert.equal(config.metricsPort, 9469);
    assert.equal(config.podCIDR, undefined);
  });

  it('applies precedence file < env < flags', () => {
    const files = { '/etc/loom/agent.yaml': 'logLevel: warn\nmtu: 1400\ntunnelVNI: 7\nbridge: br-file\nnodeName: from-file\n' };
    const config = loadConfig({
      argv: ['--config', '/etc/loom/agent.yaml', '--mtu=1300'],
      env: { NODE_NAME: 'from-env', LOOM_MTU: '1350', LOOM_TUNNEL_VNI: '9' },
      fileReader: reader(files),
    });
    assert.equal(config.logLevel, 'warn'); // file only
    assert.equal(config.bridge, 'br-file'); // file only
    assert.equal(config.tunnelVNI, 9); // env beats file
    assert.equal(config.mtu, 1300); // flag beats env and file
    assert.equal(config.nodeName, 'from-env'); // NODE_NAME beats file
  });

  it('prefers LOOM_NODE_NAME over NODE_NAME and --node-name over both', () => {
    assert.equal(loadConfig({ argv: [], env: { NODE_NAME: 'a', LOOM_NODE_NAME: 'b' } }).nodeName, 'b');
    assert.equal(loadConfig({ argv: ['--node-name', 'c'], env: { NODE_NAME: 'a', LOOM_NODE_NAME: 'b' } }).nodeName, 'c');
  });

  it('reads JSON files and LOOM_CONFIG', () => {
    const files = { '/cfg.json': JSON.stringify({ podCIDR: '10.244.3.0/24', installCniConfig: false, kubeconfig: 'none' }) };
    const config = loadConfig({ argv: [], env: { ...BASE_ENV, LOOM_CONFIG: '/cfg.json' }, fileReader: reader(files) });
    assert.equal(config.podCIDR, '10.244.3.0/24');
    assert.equal(config.installCniConfig, false);
    assert.ok(isStandalone(config));
  });

  it('parses boolean flags in every form', () => {
    assert.equal(loadConfig({ argv: ['--no-install-cni-config'], env: BASE_ENV }).installCniConfig, false);
    assert.equal(loadConfig({ argv: ['--install-cni-config=false'], env: BASE_ENV }).installCniConfig, false);
    assert.equal(loadConfig({ argv: ['--install-cni-config'], env: { ...BASE_ENV, LOOM_INSTALL_CNI_CONFIG: 'false' } }).installCniConfig, true);
  });

  it('treats empty optional values as unset and empty env values as not given', () => {
    const files = { '/a.yaml': 'podCIDR:\ntransportIP: ""\n' };
    const config = loadConfig({ argv: ['--config=/a.yaml'], env: { ...BASE_ENV, LOOM_BRIDGE: '' }, fileReader: reader(files) });
    assert.equal(config.podCIDR, undefined);
    assert.equal(config.transportIP, undefined);
    assert.equal(config.bridge, 'br-int');
  });

  it('has an env name and flag for every field', () => {
    const field = (name: keyof AgentConfig) => FIELDS.find((f) => f.name === name)!;
    assert.equal(envName(field('podCIDR')), 'LOOM_POD_CIDR');
    assert.equal(flagName(field('podCIDR')), '--pod-cidr');
    assert.equal(envName(field('metricsBindAddress')), 'LOOM_METRICS_BIND_ADDRESS');
    assert.equal(flagName(field('tunnelVNI')), '--tunnel-vni');
    assert.equal(flagName(field('transportIP')), '--transport-ip');
    assert.equal(envName(field('ovsRunDir')), 'LOOM_OVS_RUN_DIR');
    assert.equal(new Set(FIELDS.map(flagName)).size, FIELDS.length);
  });

  it('throws HelpRequested listing every option with its default', () => {
    try {
      loadConfig({ argv: ['--help'], env: {} });
      assert.fail('expected HelpRequested');
    } catch (err) {
      assert.ok(err instanceof HelpRequested);
      for (const field of FIELDS) assert.ok(err.text.includes(flagName(field)), `help lacks ${flagName(field)}`);
      assert.match(err.text, /--tunnel-port VALUE +\(env LOOM_TUNNEL_PORT; default 4789\)/);
    }
  });

  it('derives socket paths and the MTU', () => {
    const config = loadConfig({ argv: ['--ovs-run-dir', '/tmp/loomt-x/run', '--bridge', 'br-t'], env: BASE_ENV });
    assert.equal(ovsdbRemote(config), 'unix:/tmp/loomt-x/run/db.sock');
    assert.equal(bridgeMgmtSocket(config), '/tmp/loomt-x/run/br-t.mgmt');
    assert.equal(cniConfPath(config), '/etc/cni/net.d/10-loom.conflist');
    assert.equal(podMtu(config, 1500), 1450);
    assert.equal(ovsdbRemote({ ...config, ovsdbSocket: 'tcp:127.0.0.1:6640' }), 'tcp:127.0.0.1:6640');
    assert.equal(podMtu({ ...config, mtu: 1400 }, 1500), 1400);
  });
});

describe('config: validation', () => {
  const badValues: Array<[string, string, string]> = [
    // [flag, value, field name expected in the message]
    ['--pod-cidr', '10.244.1.0/33', 'podCIDR'],
    ['--pod-cidr', '10.244.1.5/24', 'podCIDR'],
    ['--cluster-cidr', 'fd00::/64', 'clusterCIDR'],
    ['--service-cidr', '10.96.0.0', 'serviceCIDR'],
    ['--tunnel-port', '0', 'tunnelPort'],
    ['--tunnel-port', '65536', 'tunnelPort'],
    ['--tunnel-vni', '16777216', 'tunnelVNI'],
    ['--tunnel-vni', '1.5', 'tunnelVNI'],
    ['--metrics-port', '-1', 'metricsPort'],
    ['--mtu', '60', 'mtu'],
    ['--bridge', 'a-very-long-bridge-name', 'bridge'],
    ['--gateway-interface', 'gw 0', 'gatewayInterface'],
    ['--tunnel-interface', '', 'tunnelInterface'],
    ['--transport-interface', 'eth0;rm', 'transportInterface'],
    ['--transport-ip', '10.0.0.300', 'transportIP'],
    ['--metrics-bind-address', 'localhost', 'metricsBindAddress'],
    ['--datapath-type', 'dpdk', 'datapathType'],
    ['--log-level', 'trace', 'logLevel'],
    ['--tunnel-type', 'geneve', 'tunnelType'],
    ['--state-dir', 'var/lib/loom', 'stateDir'],
    ['--cni-socket', '/var/run/../loom.sock', 'cniSocket'],
    ['--ovs-run-dir', 'relative', 'ovsRunDir'],
    ['--cni-conf-dir', '', 'cniConfDir'],
    ['--cni-bin-dir', 'bin', 'cniBinDir'],
    ['--audit-log-dir', 'log', 'auditLogDir'],
    ['--cni-conf-file', '../x.conflist', 'cniConfFile'],
    ['--cni-conf-file', '10-loom.json', 'cniConfFile'],
    ['--kubeconfig', 'kube.conf', 'kubeconfig'],
    ['--ovsdb-socket', '/var/run/db.sock', 'ovsdbSocket'],
    ['--install-cni-config=maybe', '', 'installCniConfig'],
    ['--node-name', 'Node_1', 'nodeName'],
  ];
  for (const [flag, value, field] of badValues) {
    it(`rejects ${flag} ${JSON.stringify(value)} naming ${field}`, () => {
      const argv = flag.includes('=') ? [flag] : [`${flag}=${value}`];
      const problems = expectProblems(() => loadConfig({ argv, env: BASE_ENV }));
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.ok(problems[0]!.startsWith(`${field} = `), problems[0]);
      assert.match(problems[0]!, /expected /);
      assert.ok(problems[0]!.includes(flag.split('=')[0]!), `message should name the source flag: ${problems[0]}`);
    });
  }

  it('reports every problem at once, naming the source', () => {
    const files = { '/c.yaml': 'tunnelPort: "abc"\nlogLevel: 3\npodCidr: 10.0.0.0/8\n' };
    const err = (() => {
      try { loadConfig({ argv: ['--config', '/c.yaml', '--mtu', 'big'], env: { LOOM_TUNNEL_VNI: '0' }, fileReader: reader(files) }); }
      catch (e) { return e; }
      return undefined;
    })();
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    assert.match(text, /tunnelPort = "abc" \(from file \/c\.yaml\)/);
    assert.match(text, /logLevel = 3 \(from file \/c\.yaml\)/);
    assert.match(text, /unknown field "podCidr"/);
    assert.match(text, /mtu = "big" \(from flag --mtu\)/);
    assert.match(text, /tunnelVNI = "0" \(from env LOOM_TUNNEL_VNI\)/);
    assert.match(text, /nodeName is not set/);
    assert.equal(err.problems.length, 6);
    assert.match(err.message, /6 problems/);
  });

  it('requires podCIDR in standalone mode', () => {
    const problems = expectProblems(() => loadConfig({ argv: ['--kubeconfig', 'none'], env: BASE_ENV }));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^podCIDR is required when kubeconfig is "none"/);
  });

  it('checks podCIDR inside clusterCIDR and clusterCIDR apart from serviceCIDR', () => {
    const problems = expectProblems(() =>
      loadConfig({ argv: ['--pod-cidr=10.245.1.0/24', '--service-cidr=10.240.0.0/12'], env: BASE_ENV }));
    assert.ok(problems.some((p) => p.startsWith('podCIDR = "10.245.1.0/24" is not inside clusterCIDR')), problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('overlaps serviceCIDR')), problems.join('\n'));
  });

  it('rejects equal bridge, gateway and tunnel names', () => {
    const problems = expectProblems(() => loadConfig({ argv: ['--gateway-interface=br-int'], env: BASE_ENV }));
    assert.match(problems[0]!, /bridge and gatewayInterface are both "br-int"/);
  });

  it('rejects unknown flags, missing flag values and positional arguments', () => {
    const problems = expectProblems(() => loadConfig({ argv: ['--pod-cdr=1', 'extra', '--mtu'], env: BASE_ENV }));
    assert.equal(problems.length, 3);
    assert.match(problems[0]!, /unknown option --pod-cdr/);
    assert.match(problems[1]!, /unexpected argument "extra"/);
    assert.match(problems[2]!, /option --mtu needs a value/);
  });

  it('reports unreadable and malformed files', () => {
    assert.match(expectProblems(() => loadConfig({ argv: ['--config=/missing.yaml'], env: BASE_ENV, fileReader: reader({}) }))[0]!,
      /cannot read config file \/missing\.yaml .*ENOENT/);
    assert.match(expectProblems(() => loadConfig({ argv: ['--config=/x'], env: BASE_ENV, fileReader: reader({ '/x': 'a: [1' }) }))[0]!,
      /config file \/x is not valid YAML or JSON/);
    assert.match(expectProblems(() => loadConfig({ argv: ['--config=/x'], env: BASE_ENV, fileReader: reader({ '/x': '- a\n- b\n' }) }))[0]!,
      /must hold a mapping/);
  });
});
