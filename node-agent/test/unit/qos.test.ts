// Pure bandwidth code: Kubernetes quantities, desired limits from annotations / runtimeConfig, shaper parameters.
import assert from 'node:assert/strict';
import {
  bandwidthFromAnnotations,
  bandwidthFromRuntimeConfig,
  burstBytes,
  describeBandwidth,
  desiredBandwidth,
  EGRESS_BANDWIDTH_ANNOTATION,
  htbParams,
  INGRESS_BANDWIDTH_ANNOTATION,
  MIN_BURST_BYTES,
  sameBandwidth,
  tbfCommand,
  tbfParams,
  UNSET_BURST_BITS,
} from '../../src/qos/limits.js';
import { BandwidthValueError, formatBps, parseBandwidth, parseQuantity } from '../../src/qos/quantity.js';
import { checkAgainstLimit } from '../../../bench/bandwidth/iperf.js';
import { clearTbf, setTbf } from '../../src/qos/tc.js';

describe('qos: Kubernetes quantities', () => {
  const cases: Array<[string, bigint]> = [
    ['500k', 500_000n],
    ['10M', 10_000_000n],
    ['1G', 1_000_000_000n],
    ['1Gi', 1_073_741_824n],
    ['1Ki', 1024n],
    ['1.5M', 1_500_000n],
    ['2e6', 2_000_000n],
    ['2E6', 2_000_000n],
    ['1.5e3', 1500n],
    ['12345', 12345n],
    ['+10M', 10_000_000n],
    ['.5M', 500_000n],
    ['1P', 1_000_000_000_000_000n],
    ['100m', 1n], // 0.1 rounds up, like Quantity.Value()
    ['1500m', 2n],
    ['0.0001k', 1n],
  ];
  for (const [text, want] of cases) {
    it(`parses ${text}`, () => assert.equal(parseQuantity('x', text), want));
  }

  for (const bad of ['', '10 M', ' 10M', '10MB', '10mb', 'M', '1.2.3', '10Kb', 'ten', '10K', '1e', '0x10', '1_000']) {
    it(`rejects ${JSON.stringify(bad)} with the source and value in the message`, () => {
      assert.throws(
        () => parseQuantity(INGRESS_BANDWIDTH_ANNOTATION, bad),
        (e: unknown) => e instanceof BandwidthValueError && e.message.includes(INGRESS_BANDWIDTH_ANNOTATION) && e.message.includes(JSON.stringify(bad)) && e.value === bad,
      );
    });
  }

  it('accepts the range 1k..1P and rejects values outside it', () => {
    assert.equal(parseBandwidth('a', '1k'), 1000);
    assert.equal(parseBandwidth('a', '1P'), 1e15);
    for (const bad of ['999', '0', '-10M', '1001T', '2P', '1Pi']) {
      assert.throws(() => parseBandwidth(EGRESS_BANDWIDTH_ANNOTATION, bad), /kubernetes\.io\/egress-bandwidth=.*outside the allowed range 1k\.\.1P/);
    }
  });

  it('formats rates for humans', () => {
    assert.equal(formatBps(10_000_000), '10M');
    assert.equal(formatBps(1_500_000_000), '1.5G');
    assert.equal(formatBps(999), '999');
  });
});

describe('qos: desired limits', () => {
  it('reads both annotations; none means unlimited', () => {
    assert.deepEqual(bandwidthFromAnnotations({ [INGRESS_BANDWIDTH_ANNOTATION]: '10M', [EGRESS_BANDWIDTH_ANNOTATION]: '1Gi', other: 'x' }), {
      ingressBps: 10_000_000,
      egressBps: 1_073_741_824,
    });
    assert.deepEqual(bandwidthFromAnnotations({ [EGRESS_BANDWIDTH_ANNOTATION]: '500k' }), { egressBps: 500_000 });
    assert.deepEqual(bandwidthFromAnnotations({}), {});
    assert.deepEqual(bandwidthFromAnnotations(undefined), {});
  });

  it('an invalid annotation names the annotation and the value', () => {
    assert.throws(() => bandwidthFromAnnotations({ [EGRESS_BANDWIDTH_ANNOTATION]: '10 Mbit' }), /kubernetes\.io\/egress-bandwidth="10 Mbit" is invalid/);
  });

  it('reads runtimeConfig; the MaxUint32 burst containerd sends means "unset"', () => {
    assert.deepEqual(bandwidthFromRuntimeConfig({ ingressRate: 10_000_000, ingressBurst: UNSET_BURST_BITS, egressRate: 2_000_000, egressBurst: 800_000 }), {
      ingressBps: 10_000_000,
      egressBps: 2_000_000,
      egressBurstBits: 800_000,
    });
    assert.deepEqual(bandwidthFromRuntimeConfig({ ingressRate: 0, egressRate: 0 }), {});
    assert.deepEqual(bandwidthFromRuntimeConfig(undefined), {});
    assert.throws(() => bandwidthFromRuntimeConfig({ egressRate: 10 }), /runtimeConfig\.bandwidth\.egressRate="10" is invalid/);
  });

  it('the Pod object, when known, wins over runtimeConfig (also to remove a limit)', () => {
    const runtimeConfig = { ingressRate: 10_000_000, egressRate: 10_000_000 };
    assert.deepEqual(desiredBandwidth({ podAnnotations: { [INGRESS_BANDWIDTH_ANNOTATION]: '100M' }, runtimeConfig }), { ingressBps: 100_000_000 });
    assert.deepEqual(desiredBandwidth({ podAnnotations: {}, runtimeConfig }), {});
    assert.deepEqual(desiredBandwidth({ runtimeConfig }), { ingressBps: 10_000_000, egressBps: 10_000_000 });
  });

  it('compares and describes limits', () => {
    assert.ok(sameBandwidth({ ingressBps: 1000 }, { ingressBps: 1000 }));
    assert.ok(!sameBandwidth({ ingressBps: 1000 }, { egressBps: 1000 }));
    assert.equal(describeBandwidth({ ingressBps: 10_000_000 }), 'ingress 10Mbit/s, egress unlimited');
  });
});

describe('qos: shaper parameters', () => {
  it('default burst is 25 ms at the rate, at least a few frames', () => {
    assert.equal(burstBytes(10_000_000), 31_250);
    assert.equal(burstBytes(100_000_000), 312_500);
    assert.equal(burstBytes(1000), MIN_BURST_BYTES);
    assert.equal(burstBytes(10_000_000, 800_000), 100_000);
    assert.equal(burstBytes(1e15) <= 256 * 1024 * 1024, true);
  });

  it('TBF: rate in bit/s, burst and limit in bytes, queue of 25 ms', () => {
    const p = tbfParams(10_000_000);
    assert.deepEqual(p, { rateBps: 10_000_000, burstBytes: 31_250, limitBytes: 62_500 });
    assert.deepEqual(tbfCommand('eth0', p), ['qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', '10000000bit', 'burst', '31250', 'limit', '62500']);
  });

  it('HTB: max-rate and burst in bits as OVS takes them', () => {
    assert.deepEqual(htbParams(100_000_000), { maxRateBps: 100_000_000, burstBits: 2_500_000 });
  });
});

describe('qos: measuring against a limit (bench/bandwidth/iperf.ts)', () => {
  const runs = (values: number[]) => {
    let i = 0;
    return async () => values[i++]!;
  };
  it('stops at the first run within +-10%', async () => {
    assert.deepEqual(await checkAgainstLimit(runs([80, 95, 99]), 100), { ratios: [0.8, 0.95], ok: true });
  });
  it('fails at once when a run exceeds the limit by more than 10%', async () => {
    assert.deepEqual(await checkAgainstLimit(runs([120, 95]), 100), { ratios: [1.2], ok: false });
  });
  it('fails after every run stayed below the band', async () => {
    assert.deepEqual(await checkAgainstLimit(runs([50, 60, 70, 95]), 100), { ratios: [0.5, 0.6, 0.7], ok: false });
  });
});

describe('qos: pod-side tc never falls back to the node', () => {
  it('refuses to install or remove a TBF without the pod netns', async () => {
    await assert.rejects(setTbf('', 'eth0', tbfParams(10_000_000)), /needs the pod's network namespace path/);
    await assert.rejects(clearTbf('', 'eth0'), /needs the pod's network namespace path/);
    await assert.rejects(setTbf('relative/ns', 'eth0', tbfParams(10_000_000)), /invalid network namespace path/);
    await assert.rejects(setTbf('/var/run/netns/x', 'eth0;rm', tbfParams(10_000_000)), /invalid interface name/);
  });
});
