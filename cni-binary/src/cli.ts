// loom-cni's logic: environment + stdin -> validated request -> loom-agent -> what to print.
import { postToAgent } from './agent-client.js';
import { agentOutcome, asFailure, failureOutcome, successOutcome, type Outcome } from './outcome.js';
import { MAX_REQUEST_BYTES } from './protocol.js';
import {
  decodeJson,
  encodeShimRequest,
  errorVersionOf,
  parseCommand,
  resolveSocketPath,
  timeoutFor,
  validateEnv,
  validateNetConf,
  versionAnswer,
  type ProcessEnv,
} from './request.js';
import { CNI_SPEC_VERSION } from './spec.js';
import { readStdin, stdinStream, type StdinSource, type StdinStream } from './stdin.js';

/** How long VERSION waits for stdin before answering without it (podman may leave it open). */
export const VERSION_STDIN_WAIT_MS = 1000;

export interface RunOptions {
  /** Override the agent timeout (tests); default depends on the command. */
  timeoutMs?: number;
}

export async function runCni(env: ProcessEnv, stdin: StdinSource, options: RunOptions = {}): Promise<Outcome> {
  let errorVersion = CNI_SPEC_VERSION;
  try {
    const command = parseCommand(env['CNI_COMMAND']);
    if (command === 'VERSION') return successOutcome(versionAnswer(await readStdinForVersion(stdinStream(stdin))));

    const text = await readStdin(stdin, MAX_REQUEST_BYTES);
    const parsed = decodeJson(text);
    errorVersion = errorVersionOf(parsed);
    const conf = validateNetConf(parsed);
    const socketPath = resolveSocketPath(conf);
    const shimEnv = validateEnv(command, env);
    const body = encodeShimRequest(shimEnv, text);
    const reply = await postToAgent(socketPath, body, options.timeoutMs ?? timeoutFor(command));
    return agentOutcome(command, socketPath, reply, errorVersion);
  } catch (err) {
    return failureOutcome(asFailure(err), errorVersion);
  }
}

/** VERSION must answer even with no, empty, endless or unreadable stdin. */
async function readStdinForVersion(stdin: StdinStream): Promise<string | undefined> {
  if (stdin.isTTY) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), VERSION_STDIN_WAIT_MS);
  });
  try {
    return await Promise.race([readStdin(stdin, MAX_REQUEST_BYTES).catch(() => undefined), giveUp]);
  } finally {
    clearTimeout(timer);
  }
}
