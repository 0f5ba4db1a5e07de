import type { SharingRole } from '../../domain/model.js';
import type { GraphQLContext } from '../context.js';

/** The caller's roles on workloads as the subscription's stream last read them (ADR 0031). */
const knownRoles = Symbol('knownRoles');
type WithKnownRoles = GraphQLContext & { [knownRoles]?: Map<string, SharingRole> };

/**
 * The caller's roles as the subscription's stream last read them, as a key ('' before it read
 * any): subscribers with equal keys are authorized alike on the payloads of their streams.
 */
export function knownRolesKey(ctx: object): string {
  const roles = (ctx as WithKnownRoles)[knownRoles];
  if (!roles || roles.size === 0) return '';
  let key = '';
  for (const [workloadId, role] of roles) key += `${workloadId}=${role};`;
  return key;
}

/** Records the caller's role on a workload as read by the subscription's stream (or its group). */
export function rememberRole(ctx: object, workloadId: string, role: SharingRole): void {
  const c = ctx as WithKnownRoles;
  c[knownRoles] ??= new Map();
  c[knownRoles].set(workloadId, role);
}

/** Primes the operation's role loader with the roles its stream read: payloads need no query of their own. */
export function primeKnownRoles(ctx: GraphQLContext): void {
  const roles = (ctx as WithKnownRoles)[knownRoles];
  if (roles) for (const [workloadId, role] of roles) ctx.access.workloadRole.prime(workloadId, role);
}
