// loadConfig: defaults < config file (--config / LOOM_CONFIG) < env (LOOM_<FIELD>, NODE_NAME) < flags.
import { readFileSync } from 'node:fs';
import { load as parseYaml } from 'js-yaml';
import { ConfigError, HelpRequested } from './errors.js';
import { FIELDS, envName, fieldDefault, flagName, type FieldName, type FieldSpec } from './fields.js';
import { helpText } from './help.js';
import { STANDALONE_KUBECONFIG, type AgentConfig } from './types.js';
import { cidrContains, cidrsOverlap, parseIpv4Cidr } from './validators.js';

export interface LoadConfigOptions {
  /** Command-line arguments without the node binary and script (process.argv.slice(2)). */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Reads the config file as UTF-8 text; default fs.readFileSync. */
  fileReader?: (path: string) => string;
}

interface RawValue {
  value: unknown;
  /** Where the value came from, for error messages: "flag --pod-cidr", "env LOOM_MTU", "file /etc/loom/agent.yaml". */
  origin: string;
}

const FIELD_BY_NAME = new Map<string, FieldSpec>(FIELDS.map((f) => [f.name, f]));
const FIELD_BY_FLAG = new Map<string, FieldSpec>(FIELDS.map((f) => [flagName(f), f]));
const CONFIG_FLAG = '--config';
const CONFIG_ENV = 'LOOM_CONFIG';

export function loadConfig(options: LoadConfigOptions): AgentConfig {
  const problems: string[] = [];
  const raw = new Map<FieldName, RawValue>();
  const fileReader = options.fileReader ?? ((path: string) => readFileSync(path, 'utf8'));

  const cli = parseArgv(options.argv, problems);
  const configPath = cli.configPath ?? nonEmpty(options.env[CONFIG_ENV]);
  if (configPath !== undefined) readConfigFile(configPath, fileReader, raw, problems);

  const nodeNameEnv = nonEmpty(options.env.NODE_NAME);
  if (nodeNameEnv !== undefined) raw.set('nodeName', { value: nodeNameEnv, origin: 'env NODE_NAME' });
  for (const field of FIELDS) {
    const value = nonEmpty(options.env[envName(field)]);
    if (value !== undefined) raw.set(field.name, { value, origin: `env ${envName(field)}` });
  }
  for (const [name, value] of cli.values) raw.set(name, value);

  const config = buildConfig(raw, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return config as AgentConfig;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function parseArgv(argv: readonly string[], problems: string[]): { configPath?: string; values: Map<FieldName, RawValue> } {
  const values = new Map<FieldName, RawValue>();
  let configPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') throw new HelpRequested(helpText());
    if (!arg.startsWith('--')) {
      problems.push(`unexpected argument ${JSON.stringify(arg)}: options are --name value or --name=value (see --help)`);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    let inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const negated = flag.startsWith('--no-') ? FIELD_BY_FLAG.get(`--${flag.slice(5)}`) : undefined;
    if (negated?.kind === 'boolean' && inline === undefined) {
      values.set(negated.name, { value: false, origin: `flag ${flag}` });
      continue;
    }
    const field = FIELD_BY_FLAG.get(flag);
    if (flag !== CONFIG_FLAG && field === undefined) {
      problems.push(`unknown option ${flag}: run with --help to list the options`);
      continue;
    }
    if (field?.kind === 'boolean' && inline === undefined) {
      values.set(field.name, { value: true, origin: `flag ${flag}` });
      continue;
    }
    if (inline === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) {
        problems.push(`option ${flag} needs a value: use ${flag} VALUE or ${flag}=VALUE`);
        continue;
      }
      inline = next;
      i++;
    }
    if (field === undefined) configPath = inline;
    else values.set(field.name, { value: inline, origin: `flag ${flag}` });
  }
  return configPath === undefined ? { values } : { configPath, values };
}

function readConfigFile(path: string, fileReader: (path: string) => string, raw: Map<FieldName, RawValue>, problems: string[]): void {
  let text: string;
  try {
    text = fileReader(path);
  } catch (err) {
    problems.push(`cannot read config file ${path} (${(err as Error).message}): check --config / ${CONFIG_ENV}`);
    return;
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    problems.push(`config file ${path} is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
    return;
  }
  if (doc === undefined || doc === null) return; // empty file: defaults only
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    problems.push(`config file ${path} must hold a mapping of field: value (got ${Array.isArray(doc) ? 'a list' : typeof doc})`);
    return;
  }
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const field = FIELD_BY_NAME.get(key);
    if (field === undefined) {
      problems.push(`config file ${path}: unknown field ${JSON.stringify(key)} (fields are camelCase, e.g. podCIDR; see --help)`);
      continue;
    }
    if (value === null) continue; // "podCIDR:" with no value = unset
    raw.set(field.name, { value, origin: `file ${path}` });
  }
}

function coerce(field: FieldSpec, value: unknown): string | number | boolean | undefined {
  switch (field.kind) {
    case 'string':
      return typeof value === 'string' ? value : undefined;
    case 'integer':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value.trim());
      return undefined;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string') {
        const lower = value.trim().toLowerCase();
        if (['true', '1', 'yes'].includes(lower)) return true;
        if (['false', '0', 'no'].includes(lower)) return false;
      }
      return undefined;
  }
}

function buildConfig(raw: Map<FieldName, RawValue>, problems: string[]): Partial<AgentConfig> {
  const config: Partial<Record<FieldName, string | number | boolean>> = {};
  for (const field of FIELDS) {
    const given = raw.get(field.name);
    if (given === undefined) {
      const fallback = fieldDefault(field);
      if (fallback !== undefined) config[field.name] = fallback;
      continue;
    }
    const value = coerce(field, given.value);
    const bad = () => problems.push(`${field.name} = ${JSON.stringify(given.value)} (from ${given.origin}): expected ${field.expected}`);
    if (value === undefined) { bad(); continue; }
    if (field.kind === 'string' && field.optional && value === '') continue;
    if (field.kind === 'string' && !field.check(value as string)) { bad(); continue; }
    if (field.kind === 'integer' && !field.check(value as number)) { bad(); continue; }
    config[field.name] = value;
  }
  checkRelations(config as Partial<AgentConfig>, raw, problems);
  return config as Partial<AgentConfig>;
}

function checkRelations(config: Partial<AgentConfig>, raw: Map<FieldName, RawValue>, problems: string[]): void {
  if (!raw.has('nodeName')) {
    problems.push('nodeName is not set: set env NODE_NAME (in Kubernetes: fieldRef spec.nodeName), LOOM_NODE_NAME, --node-name or nodeName in the config file');
  }
  if (config.kubeconfig === STANDALONE_KUBECONFIG && config.podCIDR === undefined && !raw.has('podCIDR')) {
    problems.push('podCIDR is required when kubeconfig is "none" (standalone mode has no Node object to read it from): set --pod-cidr, LOOM_POD_CIDR or podCIDR');
  }
  const pod = config.podCIDR === undefined ? undefined : parseIpv4Cidr(config.podCIDR);
  const cluster = config.clusterCIDR === undefined ? undefined : parseIpv4Cidr(config.clusterCIDR);
  const service = config.serviceCIDR === undefined ? undefined : parseIpv4Cidr(config.serviceCIDR);
  if (pod && cluster && !cidrContains(cluster, pod)) {
    problems.push(`podCIDR = "${config.podCIDR}" is not inside clusterCIDR = "${config.clusterCIDR}": pick a pod CIDR inside the cluster CIDR or widen clusterCIDR`);
  }
  if (cluster && service && cidrsOverlap(cluster, service)) {
    problems.push(`clusterCIDR = "${config.clusterCIDR}" overlaps serviceCIDR = "${config.serviceCIDR}": pod and Service ranges must be disjoint`);
  }
  const ports: Array<keyof AgentConfig> = ['bridge', 'gatewayInterface', 'tunnelInterface'];
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const a = ports[i]!, b = ports[j]!;
      if (config[a] !== undefined && config[a] === config[b]) {
        problems.push(`${a} and ${b} are both "${String(config[a])}": the bridge, gateway and tunnel interface need distinct names`);
      }
    }
  }
}
