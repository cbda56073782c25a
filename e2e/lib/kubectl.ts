// The real kubectl against the test API server. It runs inside the underlay namespace, the only
// place besides the nodes that reaches https://10.0.0.2:6443 (the harness's own namespace cannot).
import { execa } from 'execa';

export interface KubectlResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface KubectlContext {
  ulNetns: string;
  kubeconfig: string;
  /** HOME for kubectl's discovery cache */
  home: string;
}

export async function runKubectl(ctx: KubectlContext, args: string[], opts: { input?: string; reject?: boolean; timeoutMs?: number } = {}): Promise<KubectlResult> {
  for (const a of args) if (a.includes('\0')) throw new Error('kubectl arguments must not contain NUL bytes');
  const r = await execa('ip', ['netns', 'exec', ctx.ulNetns, 'kubectl', '--kubeconfig', ctx.kubeconfig, ...args], {
    env: { HOME: ctx.home, KUBECONFIG: ctx.kubeconfig },
    reject: false,
    timeout: opts.timeoutMs ?? 60000,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
  const result = { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  if ((opts.reject ?? true) && result.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.exitCode}): ${result.stderr.trim() || result.stdout.trim()}`);
  return result;
}
