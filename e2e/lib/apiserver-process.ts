// The test API server as its own process inside the `<prefix>api` namespace, serving
// https://10.0.0.2:6443 to the nodes and a unix-socket side door to the harness.
import { execa, type ResultPromise } from 'execa';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  // stderr (the request log) goes to an fd the server writes itself, so it outlives the harness (demo --keep)
  const logFd = openSync(log, 'a');
  const proc: ResultPromise = execa('ip', [
    'netns', 'exec', o.netns, process.execPath, o.program,
    '--listen', `${UNDERLAY.apiServerIp}:${UNDERLAY.apiServerPort}`,
    '--kubeconfig-out', kubeconfig,
    '--unix-socket', unixSocket,
    '--log',
  ], { reject: false, stdin: 'ignore', stdout: 'pipe', stderr: [logFd], cleanup: !o.keepOnExit, detached: o.keepOnExit ?? false });
  closeSync(logFd);
  const stop = async (): Promise<void> => {
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await proc;
    clearTimeout(killer);
  };
  const ready = await new Promise<{ url: string } | string>((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve(`no ready line within ${o.timeoutMs ?? 30000} ms`), o.timeoutMs ?? 30000);
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
    void proc.then((r) => {
      clearTimeout(timer);
      resolve(`exited with code ${r.exitCode ?? r.signal ?? '?'}`);
    });
  });
  if (typeof ready === 'string') {
    await stop().catch(() => undefined);
    const tail = (await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n');
    throw new Error(`the test API server in ${o.netns} did not start: ${ready}; its log ${log} ends with:\n${tail}`);
  }
  return { url: ready.url, kubeconfig, unixSocket, log, stop };
}
