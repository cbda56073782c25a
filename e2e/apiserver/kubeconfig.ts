// Kubeconfig for clients of the test API server (kubectl, @kubernetes/client-node): TLS without
// verification (self-signed certificate) and a bearer token.
import { writeFile } from 'node:fs/promises';

export interface KubeconfigOptions {
  /** https://host:port */
  server: string;
  token: string;
  contextName?: string;
}

export function kubeconfigYaml(options: KubeconfigOptions): string {
  const context = options.contextName ?? 'loom-test';
  // JSON is valid YAML: no YAML library needed and no quoting pitfalls.
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: context, cluster: { server: options.server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: context, user: { token: options.token } }],
    contexts: [{ name: context, context: { cluster: context, user: context, namespace: 'default' } }],
    'current-context': context,
    preferences: {},
  }, null, 2) + '\n';
}

export async function writeKubeconfig(path: string, options: KubeconfigOptions): Promise<string> {
  await writeFile(path, kubeconfigYaml(options), { mode: 0o600 });
  return path;
}
