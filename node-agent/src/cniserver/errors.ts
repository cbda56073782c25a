import { CniErrorCode, type CniErrorObject } from '../../../cni-binary/src/spec.js';

/** An error that becomes a CNI error object for the runtime. */
export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details?: string,
  ) {
    super(message);
  }

  toObject(cniVersion: string): CniErrorObject {
    const o: CniErrorObject = { cniVersion, code: this.code, msg: this.message };
    if (this.details) o.details = this.details;
    return o;
  }
}

export const invalidConfig = (msg: string) => new CniError(CniErrorCode.InvalidConfig, msg);
export const invalidEnv = (msg: string) => new CniError(CniErrorCode.InvalidEnv, msg);
