// Entry point of the loom-cni executable (bundled into a Node single executable application).
// Only Node built-ins may be reached from here. Every failure ends as a CNI error object on stdout.
import { writeSync } from 'node:fs';
import { runCni } from './cli.js';
import { asFailure, failureOutcome, type Outcome } from './outcome.js';
import { CNI_SPEC_VERSION } from './spec.js';
import { FdStdin } from './stdin.js';

let finished = false;

function finish(outcome: Outcome): never {
  finished = true;
  writeStdout(outcome.stdout);
  process.exit(outcome.exitCode);
}

function fatal(err: unknown): void {
  if (finished) process.exit(1);
  finish(failureOutcome(asFailure(err), CNI_SPEC_VERSION));
}

/** Synchronous write so nothing is lost at process.exit; retries while a non-blocking pipe is full. */
function writeStdout(text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(1, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return; // stdout closed: nothing left to tell
    }
  }
}

const USAGE = `loom-cni: the Loom CNI plugin. Container runtimes run it with CNI_COMMAND and the other CNI_*
variables set and the network configuration on stdin (CNI spec 1.1: ADD, DEL, CHECK, STATUS, GC,
VERSION); it forwards the request to the loom-agent of this node over its unix socket
(default /var/run/loom/cni.sock, or "socketPath" in the configuration). Error codes: docs/cni-errors.md.
`;

process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
// A person asking for help (never a runtime: runtimes always set CNI_COMMAND).
if (!process.env.CNI_COMMAND && (process.argv.includes('--help') || process.argv.includes('-h'))) {
  finish({ stdout: USAGE, exitCode: 0 });
}
// fd 0 is read directly; process.stdin (a stream, costly to set up) only when fd 0 is non-blocking.
runCni(process.env, new FdStdin(0, () => process.stdin)).then(finish, fatal);
