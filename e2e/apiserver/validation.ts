// Validation the way kube-apiserver does it for the cases users hit: object names, labels,
// NetworkPolicy specs (ipBlock, ports, selectors, policyTypes) and a minimal Pod check.
import { isIP } from 'node:net';
import type { FieldError } from './errors.js';
import type { ResourceType } from './resources.js';
import type { JsonValue, KubeObject } from './types.js';
import { isJsonObject } from './types.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

const show = (v: JsonValue | undefined): string => (typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v ?? null));

const invalidValue = (field: string, value: JsonValue | undefined, detail: string): FieldError =>
  ({ field, reason: 'FieldValueInvalid', message: `Invalid value: ${show(value)}: ${detail}` });
const required = (field: string, detail = ''): FieldError =>
  ({ field, reason: 'FieldValueRequired', message: detail ? `Required value: ${detail}` : 'Required value' });
const notSupported = (field: string, value: JsonValue | undefined, supported: string[]): FieldError =>
  ({ field, reason: 'FieldValueNotSupported', message: `Unsupported value: ${show(value)}: supported values: ${supported.map((s) => `"${s}"`).join(', ')}` });
const forbidden = (field: string, detail: string): FieldError =>
  ({ field, reason: 'FieldValueForbidden', message: `Forbidden: ${detail}` });

export function isDns1123Label(name: string): boolean {
  return name.length <= 63 && DNS1123_LABEL.test(name);
}

export function isDns1123Subdomain(name: string): boolean {
  return name.length <= 253 && DNS1123_SUBDOMAIN.test(name);
}

function qualifiedNameErrors(field: string, key: string): FieldError[] {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if ((slash >= 0 && !isDns1123Subdomain(prefix)) || name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return [invalidValue(field, key, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/'")];
  }
  return [];
}

function labelValueErrors(field: string, value: JsonValue | undefined): FieldError[] {
  if (typeof value !== 'string') return [invalidValue(field, value, 'must be a string')];
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    return [invalidValue(field, value, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")];
  }
  return [];
}

function labelMapErrors(field: string, labels: JsonValue | undefined): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (!isJsonObject(labels)) return [invalidValue(field, labels, 'must be a map of strings')];
  return Object.entries(labels).flatMap(([k, v]) => [...qualifiedNameErrors(field, k), ...labelValueErrors(`${field}[${k}]`, v)]);
}

/** metav1.LabelSelector as used in NetworkPolicy podSelector / namespaceSelector. */
export function labelSelectorErrors(field: string, selector: JsonValue | undefined): FieldError[] {
  if (selector === undefined || selector === null) return [];
  if (!isJsonObject(selector)) return [invalidValue(field, selector, 'must be a label selector object')];
  const errors = labelMapErrors(`${field}.matchLabels`, selector['matchLabels']);
  const exprs = selector['matchExpressions'];
  if (exprs === undefined || exprs === null) return errors;
  if (!Array.isArray(exprs)) return [...errors, invalidValue(`${field}.matchExpressions`, exprs, 'must be a list')];
  exprs.forEach((expr, i) => {
    const path = `${field}.matchExpressions[${i}]`;
    if (!isJsonObject(expr)) {
      errors.push(invalidValue(path, expr, 'must be an object with key, operator and values'));
      return;
    }
    const values = expr['values'];
    const count = Array.isArray(values) ? values.length : 0;
    switch (expr['operator']) {
      case 'In':
      case 'NotIn':
        if (count === 0) errors.push(required(`${path}.values`, 'must be specified when `operator` is \'In\' or \'NotIn\''));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (count > 0) errors.push(forbidden(`${path}.values`, 'may not be specified when `operator` is \'Exists\' or \'DoesNotExist\''));
        break;
      default:
        errors.push(notSupported(`${path}.operator`, expr['operator'], ['In', 'NotIn', 'Exists', 'DoesNotExist']));
    }
    if (typeof expr['key'] !== 'string') errors.push(required(`${path}.key`));
    else errors.push(...qualifiedNameErrors(`${path}.key`, expr['key']));
    if (Array.isArray(values)) values.forEach((v, j) => errors.push(...labelValueErrors(`${path}.values[${j}]`, v)));
  });
  return errors;
}

interface ParsedCidr { family: 4 | 6; network: bigint; prefix: number }

function ipToBigInt(ip: string, family: 4 | 6): bigint {
  if (family === 4) return ip.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  const [head = '', tail] = ip.split('::');
  const expand = (s: string): string[] => (s === '' ? [] : s.split(':'));
  let groups = expand(head);
  let rest = tail === undefined ? [] : expand(tail);
  const last = rest.length > 0 ? rest[rest.length - 1] : groups[groups.length - 1];
  if (last !== undefined && last.includes('.')) {
    // Embedded IPv4 (::ffff:1.2.3.4): replace it with two hex groups.
    const v4 = ipToBigInt(last, 4);
    const pair = [(v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16)];
    if (rest.length > 0) rest = [...rest.slice(0, -1), ...pair];
    else groups = [...groups.slice(0, -1), ...pair];
  }
  const zeros = tail === undefined ? [] : new Array<string>(8 - groups.length - rest.length).fill('0');
  return [...groups, ...zeros, ...rest].reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Parses "a.b.c.d/n" or "x::/n"; host bits may be set (kube-apiserver accepts them). */
export function parseCidr(text: string): ParsedCidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const family = isIP(m[1] ?? '');
  if (family !== 4 && family !== 6) return undefined;
  const prefix = Number(m[2]);
  const bits = family === 4 ? 32 : 128;
  if (prefix > bits) return undefined;
  const value = ipToBigInt(m[1] ?? '', family);
  const hostBits = BigInt(bits - prefix);
  return { family, network: (value >> hostBits) << hostBits, prefix };
}

function contains(outer: ParsedCidr, inner: ParsedCidr): boolean {
  if (outer.family !== inner.family) return false;
  const bits = outer.family === 4 ? 32 : 128;
  const hostBits = BigInt(bits - outer.prefix);
  return (inner.network >> hostBits) === (outer.network >> hostBits);
}

const CIDR_HELP = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';

function ipBlockErrors(path: string, block: JsonValue | undefined): FieldError[] {
  if (!isJsonObject(block)) return [invalidValue(path, block ?? null, 'must be an object with cidr and except')];
  const cidrText = block['cidr'];
  if (typeof cidrText !== 'string' || cidrText === '') return [required(`${path}.cidr`)];
  const cidr = parseCidr(cidrText);
  if (!cidr) return [invalidValue(`${path}.cidr`, cidrText, CIDR_HELP)];
  const except = block['except'];
  if (except === undefined || except === null) return [];
  if (!Array.isArray(except)) return [invalidValue(`${path}.except`, except, 'must be a list of CIDRs')];
  const errors: FieldError[] = [];
  for (let i = 0; i < except.length; i++) {
    const text = except[i];
    const parsed = typeof text === 'string' ? parseCidr(text) : undefined;
    if (!parsed) return [...errors, invalidValue(`${path}.except[${i}]`, text, CIDR_HELP)];
    if (!contains(cidr, parsed) || parsed.prefix <= cidr.prefix) {
      errors.push(invalidValue(`${path}.except[${i}]`, text, 'must be a strict subset of `cidr`'));
    }
  }
  return errors;
}

function peerErrors(path: string, peer: JsonValue): FieldError[] {
  if (!isJsonObject(peer)) return [invalidValue(path, peer, 'must be an object')];
  const errors: FieldError[] = [];
  let peers = 0;
  for (const key of ['podSelector', 'namespaceSelector'] as const) {
    if (peer[key] !== undefined && peer[key] !== null) {
      peers++;
      errors.push(...labelSelectorErrors(`${path}.${key}`, peer[key]));
    }
  }
  const hasIpBlock = peer['ipBlock'] !== undefined && peer['ipBlock'] !== null;
  if (hasIpBlock) {
    peers++;
    errors.push(...ipBlockErrors(`${path}.ipBlock`, peer['ipBlock']));
  }
  if (peers === 0) errors.push(required(path, 'must specify a peer'));
  else if (peers > 1 && hasIpBlock) errors.push(forbidden(path, 'may not specify both ipBlock and another peer'));
  return errors;
}

const PORT_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

function portNumberErrors(field: string, value: number): FieldError[] {
  if (!Number.isInteger(value) || value < 1 || value > 65535) return [invalidValue(field, value, 'must be between 1 and 65535, inclusive')];
  return [];
}

function portNameErrors(field: string, name: string): FieldError[] {
  if (name.length > 15) return [invalidValue(field, name, 'must be no more than 15 characters')];
  if (!PORT_NAME.test(name)) return [invalidValue(field, name, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")];
  if (name.includes('--')) return [invalidValue(field, name, 'must not contain consecutive hyphens')];
  if (!/[a-z]/.test(name)) return [invalidValue(field, name, 'must contain at least one letter (a-z)')];
  return [];
}

function portErrors(path: string, port: JsonValue): FieldError[] {
  if (!isJsonObject(port)) return [invalidValue(path, port, 'must be an object')];
  const errors: FieldError[] = [];
  const protocol = port['protocol'];
  if (protocol !== undefined && protocol !== null && protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') {
    errors.push(notSupported(`${path}.protocol`, protocol, ['SCTP', 'TCP', 'UDP']));
  }
  const p = port['port'];
  const endPort = port['endPort'];
  const hasEnd = endPort !== undefined && endPort !== null;
  if (hasEnd && typeof endPort !== 'number') return [...errors, invalidValue(`${path}.endPort`, endPort, 'must be an integer')];
  if (typeof p === 'number') {
    errors.push(...portNumberErrors(`${path}.port`, p));
    if (typeof endPort === 'number') {
      if (endPort < p) errors.push(invalidValue(`${path}.endPort`, p, 'must be greater than or equal to `port`'));
      errors.push(...portNumberErrors(`${path}.endPort`, endPort));
    }
  } else if (typeof p === 'string') {
    if (hasEnd) errors.push(invalidValue(`${path}.endPort`, endPort, 'may not be specified when `port` is non-numeric'));
    errors.push(...portNameErrors(`${path}.port`, p));
  } else if (p !== undefined && p !== null) {
    errors.push(invalidValue(`${path}.port`, p, 'must be an integer or a port name'));
  } else if (hasEnd) {
    errors.push(invalidValue(`${path}.endPort`, endPort, 'may not be specified when `port` is not specified'));
  }
  return errors;
}

function ruleErrors(path: string, rule: JsonValue, peersField: 'from' | 'to'): FieldError[] {
  if (!isJsonObject(rule)) return [invalidValue(path, rule, 'must be an object')];
  const errors: FieldError[] = [];
  const ports = rule['ports'];
  if (Array.isArray(ports)) ports.forEach((port, i) => errors.push(...portErrors(`${path}.ports[${i}]`, port)));
  else if (ports !== undefined && ports !== null) errors.push(invalidValue(`${path}.ports`, ports, 'must be a list'));
  const peers = rule[peersField];
  if (Array.isArray(peers)) peers.forEach((peer, i) => errors.push(...peerErrors(`${path}.${peersField}[${i}]`, peer)));
  else if (peers !== undefined && peers !== null) errors.push(invalidValue(`${path}.${peersField}`, peers, 'must be a list'));
  return errors;
}

export function networkPolicyErrors(obj: KubeObject): FieldError[] {
  const spec = obj['spec'];
  if (!isJsonObject(spec)) return [required('spec')];
  const errors = labelSelectorErrors('spec.podSelector', spec['podSelector']);
  for (const [key, peers] of [['ingress', 'from'], ['egress', 'to']] as const) {
    const rules = spec[key];
    if (Array.isArray(rules)) rules.forEach((rule, i) => errors.push(...ruleErrors(`spec.${key}[${i}]`, rule, peers)));
    else if (rules !== undefined && rules !== null) errors.push(invalidValue(`spec.${key}`, rules, 'must be a list'));
  }
  const types = spec['policyTypes'];
  if (Array.isArray(types)) {
    types.forEach((t, i) => {
      if (t !== 'Ingress' && t !== 'Egress') errors.push(notSupported(`spec.policyTypes[${i}]`, t, ['Ingress', 'Egress']));
    });
    if (types.length > 2) errors.push(invalidValue('spec.policyTypes', types, 'may not specify more than two policyTypes'));
  } else if (types !== undefined && types !== null) {
    errors.push(invalidValue('spec.policyTypes', types, 'must be a list'));
  }
  return errors;
}

function podErrors(obj: KubeObject): FieldError[] {
  const spec = obj['spec'];
  if (!isJsonObject(spec)) return [required('spec')];
  const containers = spec['containers'];
  if (!Array.isArray(containers) || containers.length === 0) return [required('spec.containers')];
  const errors: FieldError[] = [];
  containers.forEach((c, i) => {
    const path = `spec.containers[${i}]`;
    if (!isJsonObject(c)) {
      errors.push(invalidValue(path, c, 'must be an object'));
      return;
    }
    const name = c['name'];
    if (typeof name !== 'string' || name === '') errors.push(required(`${path}.name`));
    else if (!isDns1123Label(name)) errors.push(invalidValue(`${path}.name`, name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"));
    if (typeof c['image'] !== 'string' || c['image'] === '') errors.push(required(`${path}.image`));
  });
  return errors;
}

function nameErrors(rt: ResourceType, obj: KubeObject): FieldError[] {
  const name = obj.metadata.name;
  if (!name) return [required('metadata.name', 'name or generateName is required')];
  if (rt.plural === 'namespaces') {
    return isDns1123Label(name) ? [] : [invalidValue('metadata.name', name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")];
  }
  return isDns1123Subdomain(name) ? [] : [invalidValue('metadata.name', name, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")];
}

/** Every field error of an object about to be stored (empty when valid). */
export function validateObject(rt: ResourceType, obj: KubeObject): FieldError[] {
  const errors = [...nameErrors(rt, obj), ...labelMapErrors('metadata.labels', obj.metadata.labels)];
  if (rt.plural === 'networkpolicies') errors.push(...networkPolicyErrors(obj));
  if (rt.plural === 'pods') errors.push(...podErrors(obj));
  return errors;
}
