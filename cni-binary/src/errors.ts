// A CNI failure carried through loom-cni until it is printed as the CNI error object.
import type { CniErrorObject } from './spec.js';

export class CniFailure extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
    this.name = 'CniFailure';
  }

  toErrorObject(cniVersion: string): CniErrorObject {
    const out: CniErrorObject = { cniVersion, code: this.code, msg: this.message };
    if (this.details !== undefined) out.details = this.details;
    return out;
  }
}
