/**
 * The product's vocabulary: every status, role and enum value the rest of the code speaks.
 * Values are the lower-case names of SPEC.md; GraphQL exposes them in SCREAMING_CASE.
 */

/** The user-facing status of a workload (11 values). */
export const WORKLOAD_STATUSES = [
  'unknown',
  'submitted',
  'provisioning',
  'launching',
  'running',
  'suspended',
  'interrupted',
  'stopping',
  'stopped',
  'errored',
  'terminated',
] as const;
export type WorkloadStatus = (typeof WORKLOAD_STATUSES)[number];

/** The status of one proton: every workload status plus four proton-only states (15 values). */
export const PROTON_STATUSES = [
  ...WORKLOAD_STATUSES,
  'initializing',
  'warming',
  'draining',
  'restarting',
] as const;
export type ProtonStatus = (typeof PROTON_STATUSES)[number];

/** The role of a proton within its workload: serving, coming up beside it, or the old active of a replace (draining, kept for rollback). */
export const PROTON_ROLES = ['active', 'candidate', 'previous'] as const;
export type ProtonRole = (typeof PROTON_ROLES)[number];

/** Lifecycle status of an artifact: drafts are mutable, locked artifacts are immutable and versioned. */
export const ARTIFACT_STATUSES = ['draft', 'locked'] as const;
export type ArtifactStatus = (typeof ARTIFACT_STATUSES)[number];

/** Governance and scheduling hint of a workload; never changes routing or replica counts. */
export const IMPORTANCES = ['low', 'moderate', 'high', 'critical'] as const;
export type Importance = (typeof IMPORTANCES)[number];

/** Steps of one blue/green replacement. */
export const REPLACEMENT_STATUSES = [
  'submitted',
  'initializing',
  'warming',
  'switching',
  'draining',
  'completed',
  'cancelled',
  'errored',
] as const;
export type ReplacementStatus = (typeof REPLACEMENT_STATUSES)[number];

/** Access levels that a shared role grants, lowest first. */
export const SHARING_ROLES = ['OBSERVER', 'EDITOR', 'OWNER'] as const;
export type SharingRole = (typeof SHARING_ROLES)[number];

/** Kinds of subject a shared role may be granted to. */
export const SUBJECT_TYPES = ['user', 'group', 'organization', 'role'] as const;
export type SubjectType = (typeof SUBJECT_TYPES)[number];

/** What the user asked the workload to be; the controller drives the runtime towards it. */
export const DESIRED_STATES = ['running', 'stopped', 'deleted'] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];
