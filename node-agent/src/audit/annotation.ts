// The namespace annotation that turns on policy audit logging for the pods of a namespace.
import type * as k8s from '@kubernetes/client-node';

export const AUDIT_ANNOTATION = 'loom.io/policy-audit';

/** True when the namespace carries loom.io/policy-audit: "true". */
export function namespaceAudited(ns: Pick<k8s.V1Namespace, 'metadata'> | undefined): boolean {
  return ns?.metadata?.annotations?.[AUDIT_ANNOTATION]?.trim().toLowerCase() === 'true';
}
