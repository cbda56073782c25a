// Long-lived child processes (API server, agents): output goes straight to a log file descriptor the
// child owns, not through a pipe of this process, so they keep running and logging after the harness
// exits when asked to (demo --keep). Otherwise they are killed when the harness process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';

export interface Daemon {
  pid: number | undefined;
  /** exit code, or null while running */
  exitCode(): number | null;
  /** stdout, when spawned with stdoutPipe */
  stdout: Readable | null;
  kill(signal: NodeJS.Signals): void;
  /** resolves when the process has exited */
  exited: Promise<void>;
}

export function spawnDaemon(cmd: string, args: string[], o: { logFile: string; keepOnExit?: boolean; stdoutPipe?: boolean }): Daemon {
  const fd = openSync(o.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { stdio: ['ignore', o.stdoutPipe ? 'pipe' : fd, fd], detached: o.keepOnExit ?? false });
  } finally {
    closeSync(fd);
  }
  let code: number | null = null;
  const killOnExit = (): void => void child.kill('SIGKILL');
  if (!o.keepOnExit) process.on('exit', killOnExit);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (c, signal) => {
      code = c ?? (signal ? 128 : -1);
      process.off('exit', killOnExit);
      resolve();
    });
    child.once('error', () => {
      code = -1;
      process.off('exit', killOnExit);
      resolve();
    });
  });
  if (o.keepOnExit) child.unref();
  return { pid: child.pid, exitCode: () => code, stdout: child.stdout, kill: (s) => void child.kill(s), exited };
}
