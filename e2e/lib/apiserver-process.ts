// The test API server as its own process inside the `<prefix>api` namespace, serving
// https://10.0.0.2:6443 to the nodes and a unix-socket side door to the harness.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnDaemon } from './daemon.js';
import { UNDERLAY } from './names.js';

export interface ApiServerProcess {
  url: string;
  kubeconfig: string;
  unixSocket: string;
  log: string;
  stop(): Promise<void>;
}

export async function startApiServerProcess(o: { netns: string; program: string; dir: string; timeoutMs?: number; keepOnExit?: boolean }): Promise<ApiServerProcess> {
  const kubeconfig = join(o.dir, 'kubeconfig');
  const unixSocket = join(o.dir, 'api.sock');
  const log = join(o.dir, 'apiserver.log');
  const proc = spawnDaemon('ip', [
    'netns', 'exec', o.netns, process.execPath, o.program,
    '--listen', `${UNDERLAY.apiServerIp}:${UNDERLAY.apiServerPort}`,
    '--kubeconfig-out', kubeconfig,
    '--unix-socket', unixSocket,
    '--log',
  ], { logFile: log, keepOnExit: o.keepOnExit ?? false, stdoutPipe: true });
  const stop = async (): Promise<void> => {
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await proc.exited;
    clearTimeout(killer);
  };
  const ready = await new Promise<{ url: string } | string>((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve(`no ready line within ${o.timeoutMs ?? 90000} ms`), o.timeoutMs ?? 90000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as { url: string });
      } catch {
        resolve(`unreadable ready line: ${line}`);
      }
    });
    void proc.exited.then(() => {
      clearTimeout(timer);
      resolve(`exited with code ${proc.exitCode() ?? '?'}`);
    });
  });
  if (typeof ready === 'string') {
    await stop().catch(() => undefined);
    const tail = (await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n');
    throw new Error(`the test API server in ${o.netns} did not start: ${ready}; its log ${log} ends with:\n${tail}`);
  }
  return { url: ready.url, kubeconfig, unixSocket, log, stop };
}
