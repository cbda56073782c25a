// NetworkPolicy YAML files of the conformance suite (e2e/netpol/policies/*.yaml), applied and
// deleted with the real kubectl. Files that need pod IPs (ipBlock cases) hold placeholders
// `{{ip x/b}}`, replaced by the pod's IP; the rendered copy is written under the cluster's dir and
// applied with `kubectl apply -f <file>`.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { join, resolve } from 'node:path';
import type { Cluster } from '../lib/cluster.js';
import type { KubectlResult } from '../lib/kubectl.js';

export const POLICY_DIR = resolve(import.meta.dirname, 'policies');

const FILE_RE = /^[a-z0-9][a-z0-9-]*$/;
const PLACEHOLDER_RE = /\{\{\s*ip\s+([a-z0-9-]+\/[a-z0-9-]+)\s*\}\}/g;

/** Pod IPs by `namespace/name`, for placeholders. */
export type PodIps = Record<string, string>;

function policyPath(file: string): string {
  if (!FILE_RE.test(file)) throw new Error(`policy file name must be lowercase letters, digits and "-" without ".yaml", got "${file}"`);
  return join(POLICY_DIR, `${file}.yaml`);
}

export async function listPolicyFiles(): Promise<string[]> {
  return (await readdir(POLICY_DIR)).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort();
}

/** Placeholders a file uses (pod keys). */
export function placeholders(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER_RE)].map((m) => m[1]!);
}

/** Replaces every `{{ip ns/name}}`; throws naming a placeholder without a (valid IPv4) IP. */
export function renderPolicy(text: string, ips: PodIps): string {
  return text.replace(PLACEHOLDER_RE, (_, key: string) => {
    const ip = ips[key];
    if (ip === undefined || !isIPv4(ip)) throw new Error(`policy placeholder {{ip ${key}}} has no IPv4 address (known pods: ${Object.keys(ips).join(', ') || 'none'})`);
    return ip;
  });
}

export async function readPolicy(file: string, ips: PodIps = {}): Promise<string> {
  return renderPolicy(await readFile(policyPath(file), 'utf8'), ips);
}

/** Writes the rendered file under `<cluster dir>/netpol/` and returns its path (kubectl reads it from there). */
async function renderedFile(cluster: Cluster, file: string, ips: PodIps): Promise<string> {
  const dir = join(cluster.dir, 'netpol');
  await mkdir(dir, { recursive: true });
  const out = join(dir, `${file}.yaml`);
  await writeFile(out, await readPolicy(file, ips));
  return out;
}

/** `kubectl apply -f` of one policy file; throws with kubectl's message when it fails unless reject is false. */
export async function applyPolicy(cluster: Cluster, file: string, ips: PodIps = {}, opts: { reject?: boolean } = {}): Promise<KubectlResult> {
  return cluster.kubectl(['apply', '-f', await renderedFile(cluster, file, ips)], opts);
}

/** `kubectl delete -f` of a policy file applied before (missing objects are fine). */
export async function deletePolicy(cluster: Cluster, file: string, ips: PodIps = {}): Promise<KubectlResult> {
  return cluster.kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', await renderedFile(cluster, file, ips)]);
}
