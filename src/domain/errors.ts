/**
 * Expected outcomes that reach clients as typed GraphQL results. Each has a stable `code`.
 * Anything else thrown is unexpected: logged with its cause and masked to clients.
 */

import type { SharingRole } from './model.js';

/** One problem with an input value; `path` names the offending field from the input's root. */
export interface ValidationIssue {
  path: (string | number)[];
  message: string;
}

/** The base of every expected failure. */
export abstract class DomainError extends Error {
  abstract readonly code: string;
}

/** The addressed object does not exist, or the caller may not know that it exists. */
export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor(
    readonly resourceType: string,
    readonly resourceId: string,
  ) {
    super(`${resourceType} ${resourceId} was not found`);
    this.name = 'NotFoundError';
  }
}

/** The request collides with the current state of another object (uniqueness, ownership, use). */
export class ConflictError extends DomainError {
  readonly code = 'CONFLICT';
  constructor(
    message: string,
    /** The objects the request conflicts with, for clients to link to. */
    readonly conflicting: { type: string; id: string }[] = [],
    /** The rule that refused it: NameTaken, DraftTaken, ArtifactInUse (stable, for clients to switch on). */
    readonly reason: string = 'Conflict',
  ) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** The input is malformed; every problem found is listed with its field path. */
export class ValidationError extends DomainError {
  readonly code = 'VALIDATION';
  constructor(readonly issues: ValidationIssue[]) {
    super(
      issues.length === 0
        ? 'invalid input'
        : issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; '),
    );
    this.name = 'ValidationError';
  }
}

/** The operation is not allowed in the object's current state; the message says why. */
export class InvalidTransitionError extends DomainError {
  readonly code = 'INVALID_TRANSITION';
  constructor(
    message: string,
    /** The state that refused the operation, e.g. `stopping` or `locked`. */
    readonly currentState: string,
    /** The rule that refused it, e.g. `WorkloadStopping` (stable, for clients to switch on). */
    readonly reason: string = 'InvalidTransition',
  ) {
    super(message);
    this.name = 'InvalidTransitionError';
  }
}

/** The caller may see the object but lacks the role the operation needs. */
export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
  constructor(
    readonly action: string,
    readonly requiredRole: string,
    /** Always a role: a caller with none is told NotFound instead. */
    readonly viewerRole: SharingRole,
    /** What is missing is a platform role (`requiredRole`), not a sharing role: the message does not compare the two. */
    platformRole = false,
  ) {
    super(`${action} needs the ${requiredRole} role${viewerRole && !platformRole ? `; you are ${viewerRole}` : ''}`);
    this.name = 'ForbiddenError';
  }
}

/**
 * A request would take its owner's or organization's usage past a configured quota. Amounts are
 * in the API's units: workloads and replicas as counted, CPU in cores, memory in bytes.
 */
export class QuotaExceededError extends DomainError {
  readonly code = 'QUOTA_EXCEEDED';
  constructor(
    /** Whose quota: `owner` or `organization`. */
    readonly scope: 'owner' | 'organization',
    /** The owner's user id or the organization's name. */
    readonly subject: string,
    /** `workloads`, `replicas`, `cpu` or `memory`. */
    readonly resource: 'workloads' | 'replicas' | 'cpu' | 'memory',
    readonly limit: number,
    readonly used: number,
    readonly requested: number,
    message: string,
  ) {
    super(message);
    this.name = 'QuotaExceededError';
  }
}
