// Test API server: NetworkPolicy validation answers 422 Invalid with the causes kube-apiserver reports.
import assert from 'node:assert/strict';
import type { ApiServer } from '../apiserver/server.js';
import { startApiServer } from '../apiserver/server.js';
import { apiRequest } from '../apiserver/testclient.js';
import type { JsonObject, JsonValue } from '../apiserver/types.js';

const PATH = '/apis/networking.k8s.io/v1/namespaces/default/networkpolicies';

interface Cause { field: string; reason: string; message: string }

function policy(name: string, spec: JsonObject): JsonObject {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name }, spec: { podSelector: {}, ...spec } };
}

const ingressPort = (port: JsonObject): JsonObject => ({ ingress: [{ ports: [port] }] });
const ingressIpBlock = (ipBlock: JsonObject): JsonObject => ({ ingress: [{ from: [{ ipBlock }] }] });

describe('test API server: NetworkPolicy validation', function () {
  let server: ApiServer;
  before(async () => {
    server = await startApiServer();
  });
  after(async () => {
    await server.stop();
  });

  async function causesOf(name: string, spec: JsonObject): Promise<Cause[]> {
    const r = await apiRequest(server.url, 'POST', PATH, { body: policy(name, spec) });
    assert.equal(r.status, 422, `expected 422 Invalid for ${name}, got ${r.status}: ${r.text}`);
    const body = r.body as JsonObject;
    assert.equal(body['kind'], 'Status');
    assert.equal(body['reason'], 'Invalid');
    assert.match(String(body['message']), new RegExp(`^NetworkPolicy\\.networking\\.k8s\\.io "${name}" is invalid: `));
    const details = body['details'] as JsonObject;
    assert.equal(details['kind'], 'NetworkPolicy');
    assert.equal(details['group'], 'networking.k8s.io');
    return details['causes'] as unknown as Cause[];
  }

  const cases: { name: string; spec: JsonObject; field: string; reason: string; message: RegExp }[] = [
    { name: 'bad-cidr', spec: ingressIpBlock({ cidr: '10.0.0.0/33' }), field: 'spec.ingress[0].from[0].ipBlock.cidr', reason: 'FieldValueInvalid', message: /must be a valid CIDR/ },
    { name: 'not-cidr', spec: ingressIpBlock({ cidr: 'banana' }), field: 'spec.ingress[0].from[0].ipBlock.cidr', reason: 'FieldValueInvalid', message: /Invalid value: "banana"/ },
    { name: 'except-outside', spec: ingressIpBlock({ cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] }), field: 'spec.ingress[0].from[0].ipBlock.except[0]', reason: 'FieldValueInvalid', message: /strict subset of `cidr`/ },
    { name: 'except-equal', spec: ingressIpBlock({ cidr: '10.0.0.0/16', except: ['10.0.0.0/16'] }), field: 'spec.ingress[0].from[0].ipBlock.except[0]', reason: 'FieldValueInvalid', message: /strict subset/ },
    { name: 'except-family', spec: ingressIpBlock({ cidr: '10.0.0.0/8', except: ['fd00::/64'] }), field: 'spec.ingress[0].from[0].ipBlock.except[0]', reason: 'FieldValueInvalid', message: /strict subset/ },
    { name: 'endport-no-port', spec: ingressPort({ endPort: 90 }), field: 'spec.ingress[0].ports[0].endPort', reason: 'FieldValueInvalid', message: /may not be specified when `port` is not specified/ },
    { name: 'endport-below', spec: ingressPort({ port: 100, endPort: 90 }), field: 'spec.ingress[0].ports[0].endPort', reason: 'FieldValueInvalid', message: /must be greater than or equal to `port`/ },
    { name: 'endport-named', spec: ingressPort({ port: 'http', endPort: 90 }), field: 'spec.ingress[0].ports[0].endPort', reason: 'FieldValueInvalid', message: /non-numeric/ },
    { name: 'port-range', spec: ingressPort({ port: 70000 }), field: 'spec.ingress[0].ports[0].port', reason: 'FieldValueInvalid', message: /between 1 and 65535/ },
    { name: 'bad-port-name', spec: ingressPort({ port: 'Not_A_Name' }), field: 'spec.ingress[0].ports[0].port', reason: 'FieldValueInvalid', message: /alpha-numeric/ },
    { name: 'icmp', spec: ingressPort({ protocol: 'ICMP', port: 80 }), field: 'spec.ingress[0].ports[0].protocol', reason: 'FieldValueNotSupported', message: /Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"/ },
    { name: 'lower-tcp', spec: { egress: [{ ports: [{ protocol: 'tcp' }] }] }, field: 'spec.egress[0].ports[0].protocol', reason: 'FieldValueNotSupported', message: /"tcp"/ },
    { name: 'bad-operator', spec: { podSelector: { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['x'] }] } }, field: 'spec.podSelector.matchExpressions[0].operator', reason: 'FieldValueNotSupported', message: /"In", "NotIn", "Exists", "DoesNotExist"/ },
    { name: 'in-no-values', spec: { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In' }] } }] }] }, field: 'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values', reason: 'FieldValueRequired', message: /must be specified/ },
    { name: 'exists-values', spec: { podSelector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] } }, field: 'spec.podSelector.matchExpressions[0].values', reason: 'FieldValueForbidden', message: /may not be specified/ },
    { name: 'bad-label-value', spec: { podSelector: { matchLabels: { app: 'not valid!' } } }, field: 'spec.podSelector.matchLabels[app]', reason: 'FieldValueInvalid', message: /valid label/ },
    { name: 'empty-peer', spec: { ingress: [{ from: [{}] }] }, field: 'spec.ingress[0].from[0]', reason: 'FieldValueRequired', message: /must specify a peer/ },
    { name: 'ipblock-and-selector', spec: { ingress: [{ from: [{ podSelector: {}, ipBlock: { cidr: '10.0.0.0/8' } }] }] }, field: 'spec.ingress[0].from[0]', reason: 'FieldValueForbidden', message: /both ipBlock and another peer/ },
    { name: 'bad-policy-type', spec: { policyTypes: ['Inbound'] }, field: 'spec.policyTypes[0]', reason: 'FieldValueNotSupported', message: /"Ingress", "Egress"/ },
  ];

  for (const c of cases) {
    it(`rejects ${c.name}: ${c.field}`, async () => {
      const causes = await causesOf(c.name, c.spec);
      const cause = causes.find((x) => x.field === c.field);
      assert.ok(cause, `no cause for ${c.field} in ${JSON.stringify(causes)}`);
      assert.equal(cause.reason, c.reason);
      assert.match(cause.message, c.message);
    });
  }

  it('lists every cause of a policy with several errors', async () => {
    const causes = await causesOf('several', {
      ingress: [{ ports: [{ protocol: 'ICMP' }, { endPort: 5 }], from: [{ ipBlock: { cidr: 'x' } }] }],
    });
    assert.deepEqual(causes.map((c) => c.field).sort(), [
      'spec.ingress[0].from[0].ipBlock.cidr', 'spec.ingress[0].ports[0].protocol', 'spec.ingress[0].ports[1].endPort',
    ]);
  });

  it('accepts valid policies, including except strictly inside cidr, IPv6, endPort ranges and named ports', async () => {
    const valid: JsonObject[] = [
      policy('ok-ipblock', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.3.4/32'] } }] }] }),
      policy('ok-host-bits', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.1/24' } }] }] }),
      policy('ok-v6', { egress: [{ to: [{ ipBlock: { cidr: 'fd00::/48', except: ['fd00:0:0:1::/64'] } }] }] }),
      policy('ok-ports', { policyTypes: ['Ingress', 'Egress'], ingress: [{ ports: [{ port: 80, endPort: 90, protocol: 'TCP' }, { port: 'serve-80-udp', protocol: 'UDP' }, { protocol: 'SCTP' }] }] }),
      policy('ok-selectors', { podSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['x'] }, { key: 'b', operator: 'DoesNotExist' }] }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } }] }] }),
      policy('ok-empty-rule', { ingress: [{}] }),
    ];
    for (const p of valid) {
      const r = await apiRequest(server.url, 'POST', PATH, { body: p });
      assert.equal(r.status, 201, `${String((p['metadata'] as JsonObject)['name'])}: ${r.text}`);
    }
  });

  it('validates updates and patches too', async () => {
    await apiRequest(server.url, 'POST', PATH, { body: policy('to-break', {}) });
    const r = await apiRequest(server.url, 'PATCH', `${PATH}/to-break`, {
      body: { spec: { ingress: [{ ports: [{ port: 80, endPort: 10 }] }] } }, contentType: 'application/merge-patch+json',
    });
    assert.equal(r.status, 422);
    const stored = await apiRequest(server.url, 'GET', `${PATH}/to-break`);
    assert.equal(((stored.body as JsonObject)['spec'] as JsonObject)['ingress'] as JsonValue | undefined, undefined, 'an invalid patch must not be stored');
  });
});
