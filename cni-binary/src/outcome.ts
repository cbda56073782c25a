// Pure: what loom-cni prints and how it exits, for a failure or for the agent's reply.
import type { AgentReply } from './agent-client.js';
import { CniFailure } from './errors.js';
import { isPlainObject } from './request.js';
import { CniErrorCode, type CniCommand, type CniErrorObject } from './spec.js';

export interface Outcome {
  /** Printed on stdout as-is ('' prints nothing). */
  stdout: string;
  exitCode: 0 | 1;
}

export function failureOutcome(failure: CniFailure, errorVersion: string): Outcome {
  return { stdout: JSON.stringify(failure.toErrorObject(errorVersion)) + '\n', exitCode: 1 };
}

export function successOutcome(result: unknown): Outcome {
  return { stdout: result === undefined ? '' : JSON.stringify(result) + '\n', exitCode: 0 };
}

/** Turn anything thrown into a CNI failure without leaking a stack trace. */
export function asFailure(err: unknown): CniFailure {
  if (err instanceof CniFailure) return err;
  const why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new CniFailure(CniErrorCode.IoFailure, `loom-cni failed unexpectedly: ${why}`,
    'this is a bug in loom-cni; please report it with the runtime logs');
}

/** Map the agent's reply (or the lack of one) to what loom-cni prints. */
export function agentOutcome(command: CniCommand, socketPath: string, reply: AgentReply, errorVersion: string): Outcome {
  try {
    return successOutcome(resultFromReply(command, socketPath, reply, errorVersion));
  } catch (err) {
    if (err instanceof AgentCniError) return { stdout: JSON.stringify(err.error) + '\n', exitCode: 1 };
    return failureOutcome(asFailure(err), errorVersion);
  }
}

class AgentCniError extends Error {
  constructor(readonly error: CniErrorObject) {
    super(error.msg);
  }
}

function resultFromReply(command: CniCommand, socketPath: string, reply: AgentReply, errorVersion: string): unknown {
  // STATUS asks exactly "is the plugin available?": an absent agent is code 50, not "try again".
  const unavailableCode = command === 'STATUS' ? CniErrorCode.PluginNotAvailable : CniErrorCode.TryAgainLater;
  const checkAgent = 'check that the loom-agent pod on this node is running';
  switch (reply.kind) {
    case 'unreachable':
      throw new CniFailure(unavailableCode,
        reply.connected
          ? `loom-agent at ${socketPath} closed the connection before answering (${reply.errno}): ${checkAgent}`
          : `loom-agent is not reachable at ${socketPath} (${reply.errno}): ${checkAgent}`);
    case 'timeout':
      throw new CniFailure(unavailableCode,
        `loom-agent at ${socketPath} did not answer ${command} within ${reply.timeoutMs / 1000} s: ${checkAgent} and look at its logs`);
    case 'reply-too-large':
      throw new CniFailure(CniErrorCode.IoFailure,
        `loom-agent at ${socketPath} sent an answer larger than ${reply.limit} bytes`, 'check the loom-agent version and logs');
    case 'reply':
      break;
  }
  if (reply.status === 503) {
    const said = parseShimResponse(reply.body, errorVersion);
    throw new CniFailure(unavailableCode, `loom-agent at ${socketPath} is not ready yet (HTTP 503): ${checkAgent} and ready`,
      said !== null && !said.ok ? `loom-agent says: ${said.error.msg}` : undefined);
  }
  if (reply.status === 413) {
    throw new CniFailure(CniErrorCode.InvalidConfig,
      `loom-agent at ${socketPath} rejected the request as too large (HTTP 413)`,
      'shrink the network configuration (prevResult, runtimeConfig)');
  }
  const parsed = parseShimResponse(reply.body, errorVersion);
  if (parsed === null || (reply.status !== 200 && parsed.ok)) {
    throw new CniFailure(CniErrorCode.IoFailure,
      `loom-agent at ${socketPath} sent a malformed answer (HTTP ${reply.status}): ${preview(reply.body)}`,
      'loom-cni and loom-agent may be different versions; check that both come from the same Loom release');
  }
  if (!parsed.ok) throw new AgentCniError(parsed.error);
  return parsed.result;
}

type ParsedResponse = { ok: true; result: unknown } | { ok: false; error: CniErrorObject };

/** Validate the ShimResponse JSON; null when it is not one. */
export function parseShimResponse(body: string, errorVersion: string): ParsedResponse | null {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return null;
  }
  if (!isPlainObject(v) || typeof v['protocolVersion'] !== 'number') return null;
  if (v['ok'] === true) return { ok: true, result: v['result'] };
  if (v['ok'] !== false) return null;
  const e = v['error'];
  if (!isPlainObject(e) || !Number.isInteger(e['code']) || typeof e['msg'] !== 'string') return null;
  const code = e['code'] as number;
  if (code < 1) return null;
  const error: CniErrorObject = {
    cniVersion: typeof e['cniVersion'] === 'string' ? e['cniVersion'] : errorVersion,
    code,
    msg: e['msg'],
  };
  if (typeof e['details'] === 'string') error.details = e['details'];
  return { ok: false, error };
}

function preview(body: string): string {
  const flat = body.replace(/[\x00-\x1f\x7f]/g, ' ').trim();
  if (flat === '') return 'empty body';
  return flat.length > 120 ? `"${flat.slice(0, 120)}..."` : `"${flat}"`;
}
