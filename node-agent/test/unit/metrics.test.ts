import assert from 'node:assert/strict';
import { createMetrics, startHttpEndpoints, type HttpEndpoints, type ProbeResult } from '../../src/metrics/index.js';

describe('metrics: registry', () => {
  it('registers every Loom series on a private registry', async () => {
    const metrics = createMetrics();
    metrics.cniRequests.inc({ verb: 'ADD', result: 'success' });
    metrics.cniRequestDuration.observe({ verb: 'ADD' }, 0.02);
    metrics.ovsFlows.set({ table: 'classifier' }, 12);
    metrics.errors.inc({ component: 'ovs' });
    metrics.policyRealization.observe(0.3);
    const text = await metrics.registry.metrics();
    for (const name of ['loom_cni_requests_total', 'loom_cni_request_duration_seconds', 'loom_pods', 'loom_ovs_flows',
      'loom_policy_rules', 'loom_policy_realization_seconds', 'loom_tunnel_peers', 'loom_ovs_connected', 'loom_errors_total']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `missing ${name}`);
    }
    assert.match(text, /^loom_cni_requests_total\{verb="ADD",result="success"\} 1$/m);
    assert.match(text, /^loom_ovs_flows\{table="classifier"\} 12$/m);
    assert.match(text, /^loom_cni_request_duration_seconds_bucket\{le="0.025",verb="ADD"\} 1$/m);
    assert.match(text, /^process_cpu_seconds_total /m, 'default process metrics');
  });

  it('keeps two registries apart', async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.pods.set(3);
    assert.match(await a.registry.metrics(), /^loom_pods 3$/m);
    assert.match(await b.registry.metrics(), /^loom_pods 0$/m);
  });
});

describe('metrics: HTTP endpoints over loopback', () => {
  let endpoints: HttpEndpoints | undefined;
  let healthy: ProbeResult = true;
  let ready: ProbeResult = 'waiting for the first OVS flow replay';
  const metrics = createMetrics({ defaultMetrics: false });
  const url = (path: string) => `http://127.0.0.1:${endpoints!.port}${path}`;

  before(async () => {
    endpoints = await startHttpEndpoints({
      port: 0, bindAddress: '127.0.0.1', registry: metrics.registry, isHealthy: () => healthy, isReady: () => ready,
    });
  });
  after(async () => { await endpoints?.close(); });

  it('serves /metrics in Prometheus text format', async () => {
    metrics.ovsConnected.set(1);
    const res = await fetch(url('/metrics'));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(await res.text(), /^loom_ovs_connected 1$/m);
  });

  it('answers /healthz and /readyz with 200 ok or 503 and the reason', async () => {
    let res = await fetch(url('/healthz'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok\n');
    res = await fetch(url('/readyz'));
    assert.equal(res.status, 503);
    assert.equal(await res.text(), 'waiting for the first OVS flow replay\n');
    ready = true;
    healthy = false;
    assert.equal((await fetch(url('/readyz'))).status, 200);
    res = await fetch(url('/healthz'));
    assert.equal(res.status, 503);
    assert.equal(await res.text(), 'not healthy\n');
  });

  it('turns a throwing probe into 503 with the error', async () => {
    healthy = true;
    const throwing = await startHttpEndpoints({
      port: 0, bindAddress: '127.0.0.1', registry: metrics.registry,
      isHealthy: () => { throw new Error('ovsdb gone'); }, isReady: () => true,
    });
    try {
      const res = await fetch(`http://127.0.0.1:${throwing.port}/healthz`);
      assert.equal(res.status, 503);
      assert.match(await res.text(), /ovsdb gone/);
    } finally {
      await throwing.close();
    }
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    assert.equal((await fetch(url('/nope'))).status, 404);
    assert.equal((await fetch(url('/metrics'), { method: 'POST' })).status, 405);
  });

  it('fails with a clear message when the port is taken', async () => {
    await assert.rejects(
      startHttpEndpoints({ port: endpoints!.port, bindAddress: '127.0.0.1', registry: metrics.registry, isHealthy: () => true, isReady: () => true }),
      /cannot listen on 127\.0\.0\.1:\d+ for metrics\/health \(EADDRINUSE\)/,
    );
  });
});
