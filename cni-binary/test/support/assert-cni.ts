// Assertions on what loom-cni prints.
import assert from 'node:assert/strict';
import type { CniErrorObject } from '../../src/spec.js';

/** stdout must be exactly one CNI error object with `code`; returns it. */
export function assertCniError(stdout: string, code: number): CniErrorObject {
  const parsed: unknown = JSON.parse(stdout);
  assert.ok(parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed), `not an object: ${stdout}`);
  const obj = parsed as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    assert.ok(['cniVersion', 'code', 'msg', 'details'].includes(key), `unexpected key ${key} in ${stdout}`);
  }
  assert.equal(typeof obj['cniVersion'], 'string');
  assert.equal(typeof obj['msg'], 'string');
  assert.ok((obj['msg'] as string).length > 0);
  if ('details' in obj) assert.equal(typeof obj['details'], 'string');
  assert.equal(obj['code'], code, `expected code ${code}, got ${stdout}`);
  assert.doesNotMatch(stdout, /\n\s+at /, 'stack trace leaked');
  return obj as unknown as CniErrorObject;
}
