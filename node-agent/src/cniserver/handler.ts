// Dispatches validated CNI calls to the agent and turns every outcome into a shim response.
import { SHIM_PROTOCOL_VERSION, type ShimResponse } from '../../../cni-binary/src/protocol.js';
import { CNI_SPEC_VERSION, CniErrorCode, type CniCommand, type CniResult, type ValidAttachment } from '../../../cni-binary/src/spec.js';
import { errorMessage, logger } from '../util/log.js';
import { CniError } from './errors.js';
import { parseShimRequest, type CniCall } from './request.js';

const log = logger('cniserver');

export interface CniBackend {
  add(call: CniCall): Promise<CniResult>;
  del(call: CniCall): Promise<void>;
  check(call: CniCall): Promise<void>;
  gc(valid: ValidAttachment[]): Promise<void>;
  /** null when ready, else why not (STATUS answers 50 with it). */
  statusProblem(): string | null;
}

export interface RequestObserver {
  (command: CniCommand | 'UNKNOWN', result: 'success' | 'error', seconds: number): void;
}

export function makeShimHandler(backend: CniBackend, observe?: RequestObserver) {
  return async (body: unknown): Promise<ShimResponse> => {
    const started = process.hrtime.bigint();
    let call: CniCall | undefined;
    const done = (ok: boolean) => observe?.(call?.command ?? 'UNKNOWN', ok ? 'success' : 'error', Number(process.hrtime.bigint() - started) / 1e9);
    try {
      call = parseShimRequest(body);
      let result: unknown;
      switch (call.command) {
        case 'ADD':
          result = await backend.add(call);
          break;
        case 'DEL':
          await backend.del(call);
          break;
        case 'CHECK':
          await backend.check(call);
          break;
        case 'GC':
          await backend.gc(call.validAttachments ?? []);
          break;
        case 'STATUS': {
          const problem = backend.statusProblem();
          if (problem) throw new CniError(CniErrorCode.PluginNotAvailable, `loom-agent is not ready: ${problem}`);
          break;
        }
        case 'VERSION':
          throw new CniError(CniErrorCode.InvalidEnv, 'VERSION is answered by loom-cni itself');
      }
      done(true);
      return result === undefined ? { protocolVersion: SHIM_PROTOCOL_VERSION, ok: true } : { protocolVersion: SHIM_PROTOCOL_VERSION, ok: true, result };
    } catch (e) {
      done(false);
      const err = e instanceof CniError ? e : new CniError(CniErrorCode.IoFailure, `loom-agent failed: ${errorMessage(e)}`);
      log.warn('CNI request failed', {
        command: call?.command,
        containerId: call?.containerId,
        pod: call?.pod ? `${call.pod.namespace}/${call.pod.name}` : undefined,
        code: err.code,
        error: err.message,
      });
      return { protocolVersion: SHIM_PROTOCOL_VERSION, ok: false, error: err.toObject(call?.cniVersion ?? CNI_SPEC_VERSION) };
    }
  };
}
