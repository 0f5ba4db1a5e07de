/**
 * The rulebook: one row per operation a client can ask for, saying which role it needs on the
 * workload and on each artifact it touches, in which states it is allowed, which event it records,
 * which transition it makes and what it sets in motion. The service checks roles and the rules
 * across objects from these rows; the GraphQL layer names and describes its mutation fields from
 * them. A new operation is one row here plus one mutation field. Pure: no I/O.
 *
 * The lifecycle rules of one workload (which state allows which operation, with a typed refusal)
 * are the transition functions of `lifecycle.ts`, named in the `transition` column; the rules
 * across objects (who may run, lock or delete an artifact, when an artifact is in use) are here.
 */
import type { ArtifactStatus, SharingRole } from './model.js';
import { roleAtLeast } from './sharing.js';

/** Every mutation field of the API, by name (greppable: each appears in one row and one field). */
export const MUTATIONS = [
  'createWorkload',
  'updateWorkload',
  'startWorkload',
  'stopWorkload',
  'restartWorkload',
  'updateWorkloadRuntime',
  'replaceWorkloadArtifact',
  'cancelReplacement',
  'promoteWorkload',
  'deleteWorkload',
  'updateWorkloadSharedRoles',
  'createArtifact',
  'updateArtifact',
  'lockArtifact',
  'cloneArtifact',
  'deleteArtifact',
  'updateArtifactSharedRoles',
] as const;
export type MutationName = (typeof MUTATIONS)[number];

/**
 * The role an operation needs on one artifact it touches, by the artifact's status. `null`: no
 * role is needed (the caller may not even see it, e.g. a workload's own artifact on stop).
 */
export interface ArtifactRight {
  /** Which artifact: the one addressed, the one a workload runs now, or the one it switches to. */
  readonly which: 'addressed' | 'running' | 'target';
  readonly draft: SharingRole | null;
  readonly locked: SharingRole | null;
  /** Why the role is needed, for error messages and the ADR's table. */
  readonly because: string;
}

/** One row of the rulebook. */
export interface OperationRule {
  readonly mutation: MutationName;
  /** What the operation is addressed to: an existing workload or artifact, or nothing yet. */
  readonly subject: 'workload' | 'artifact' | 'none';
  /** The action in the caller's words, for ForbiddenError ("promoting a workload needs ..."). */
  readonly action: string;
  /** The mutation field's description. */
  readonly description: string;
  /** The role needed on the addressed workload (null: no workload is addressed). */
  readonly workloadRole: SharingRole | null;
  /** The role needed on each artifact the operation touches. */
  readonly artifacts: readonly ArtifactRight[];
  /** The states that allow it; for lifecycle operations the named transition decides, with a typed refusal. */
  readonly allowedStates: string;
  /** The event type it records on the workload (null: artifacts have no event log). */
  readonly eventType: string | null;
  /** The transition function of `lifecycle.ts` (or the change, for metadata operations). */
  readonly transition: string;
  /** What it sets in motion beyond its own row. */
  readonly effects: readonly string[];
}

/** Running an artifact in a workload: anyone who may read a locked artifact; a draft's one live slot is for its editors to give. */
const RUN: Omit<ArtifactRight, 'which'> = {
  draft: 'EDITOR',
  locked: 'OBSERVER',
  because: 'running a draft takes its one live slot; a locked artifact may back any number of workloads',
};

/** The rulebook (SPEC.md sections 3 and 4). */
export const RULEBOOK = {
  createWorkload: {
    mutation: 'createWorkload',
    subject: 'none',
    action: 'running an artifact in a new workload',
    description: 'Creates a workload on an existing artifact or an inline draft. It starts SUBMITTED. Counts against the owner\'s and the organization\'s quotas (QuotaExceededError); HIGH and CRITICAL importance need the platform roles the server allows (ForbiddenError).',
    workloadRole: null,
    artifacts: [{ which: 'target', ...RUN }],
    allowedStates: 'the artifact is live; a draft is not in use by another live workload or a replacement switching to it',
    eventType: 'created',
    transition: 'createWorkload: -> submitted',
    effects: ['the caller becomes OWNER', 'an inline spec becomes a draft in a new repository', 'startActiveProton', 'a draft workload expires after the draft TTL'],
  },
  updateWorkload: {
    mutation: 'updateWorkload',
    subject: 'workload',
    action: 'changing a workload',
    description: 'Changes a workload\'s name, description or importance. Restarts nothing.',
    workloadRole: 'EDITOR',
    artifacts: [],
    allowedStates: 'any live workload',
    eventType: 'updated',
    transition: 'none (metadata)',
    effects: ['importance is relabelled on the running objects at once'],
  },
  startWorkload: {
    mutation: 'startWorkload',
    subject: 'workload',
    action: 'starting a workload',
    description: 'Starts a stopped workload: submitted -> provisioning -> launching -> running. Resets a draft\'s TTL.',
    workloadRole: 'EDITOR',
    artifacts: [],
    allowedStates: 'stopped (started: a no-op that says so)',
    eventType: 'startRequested',
    transition: 'startWorkload',
    effects: ['startActiveProton', 'resets the draft TTL'],
  },
  stopWorkload: {
    mutation: 'stopWorkload',
    subject: 'workload',
    action: 'stopping a workload',
    description: 'Stops a workload: running -> stopping -> stopped. Identity, endpoint, sharing and history are kept.',
    workloadRole: 'EDITOR',
    artifacts: [],
    allowedStates: 'any but terminated (stopped: a no-op); not while a replacement switches',
    eventType: 'stopRequested',
    transition: 'stopWorkload',
    effects: ['scales the protons to zero', 'cancels a replacement before its switch'],
  },
  restartWorkload: {
    mutation: 'restartWorkload',
    subject: 'workload',
    action: 'restarting a workload',
    description: 'Restarts the active proton in place: running -> initializing -> running. Resets a draft\'s TTL.',
    workloadRole: 'EDITOR',
    artifacts: [],
    allowedStates: 'running or errored, no replacement in progress',
    eventType: 'restartRequested',
    transition: 'restartWorkload',
    effects: ['restartActiveProton', 'resets the draft TTL'],
  },
  updateWorkloadRuntime: {
    mutation: 'updateWorkloadRuntime',
    subject: 'workload',
    action: 'changing a workload\'s runtime',
    description: 'Changes replicas or resources in place: running -> initializing -> running. On a stopped workload it applies at the next start.',
    workloadRole: 'EDITOR',
    artifacts: [],
    allowedStates: 'running, errored or stopped; no replacement in progress',
    eventType: 'runtimeUpdated',
    transition: 'updateWorkload',
    effects: ['rolls the active proton'],
  },
  replaceWorkloadArtifact: {
    mutation: 'replaceWorkloadArtifact',
    subject: 'workload',
    action: 'replacing a workload\'s artifact',
    description:
      'Blue/green: a candidate proton comes up beside the active one; once running and warmed up, traffic switches atomically and the old proton drains.',
    workloadRole: 'EDITOR',
    // The draft the workload already runs is its own slot: rolling it out again needs no more.
    artifacts: [{ which: 'target', ...RUN }],
    allowedStates:
      'running or errored, no replacement in progress; draft -> draft or locked -> locked; a target draft is not in use by another workload or replacement',
    eventType: 'replacementRequested',
    transition: 'replaceWorkload',
    effects: ['createCandidate', 'a replacement record that holds the target draft\'s live slot until it ends'],
  },
  cancelReplacement: {
    mutation: 'cancelReplacement',
    subject: 'workload',
    action: 'cancelling a replacement',
    description: 'Cancels the replacement in progress before its traffic switch; the active proton keeps serving.',
    workloadRole: 'EDITOR',
    artifacts: [],
    allowedStates: 'a replacement before its switch',
    eventType: 'replacementCancelled',
    transition: 'cancelReplacement',
    effects: ['removes the candidate', 'releases the target draft'],
  },
  promoteWorkload: {
    mutation: 'promoteWorkload',
    subject: 'workload',
    action: 'promoting a workload',
    description: 'Promotes a running draft workload: locks its artifact (assigning its version) and removes the TTL. Restarts nothing.',
    workloadRole: 'EDITOR',
    artifacts: [{ which: 'running', draft: 'EDITOR', locked: null, because: 'promoting locks the artifact for good' }],
    allowedStates: 'a running draft workload, no replacement in progress',
    eventType: 'promoted',
    transition: 'promoteWorkload',
    effects: ['locks the artifact (the only way to lock an artifact in use)', 'removes the TTL'],
  },
  deleteWorkload: {
    mutation: 'deleteWorkload',
    subject: 'workload',
    action: 'deleting a workload',
    description: 'Deletes a workload: stops its protons and removes its routing; the artifact stays. OWNER only.',
    workloadRole: 'OWNER',
    artifacts: [],
    allowedStates: 'any (never refused)',
    eventType: 'deleteRequested',
    transition: 'deleteWorkload',
    effects: ['stops the protons', 'removes the route', 'releases its draft once gone'],
  },
  updateWorkloadSharedRoles: {
    mutation: 'updateWorkloadSharedRoles',
    subject: 'workload',
    action: 'changing who a workload is shared with',
    description: 'Replaces the workload\'s whole shared-role list (at most 100 entries, at least one OWNER). OWNER only.',
    workloadRole: 'OWNER',
    artifacts: [],
    allowedStates: 'any live workload',
    eventType: 'sharingChanged',
    transition: 'none (sharing)',
    effects: ['ends revoked callers\' subscriptions'],
  },
  createArtifact: {
    mutation: 'createArtifact',
    subject: 'none',
    action: 'creating an artifact',
    description: 'Creates a draft artifact in a new repository.',
    workloadRole: null,
    artifacts: [],
    allowedStates: 'always',
    eventType: null,
    transition: '-> draft',
    effects: ['the caller becomes OWNER of the artifact and its repository'],
  },
  updateArtifact: {
    mutation: 'updateArtifact',
    subject: 'artifact',
    action: 'changing an artifact',
    description:
      'Changes a draft artifact. Locked artifacts are immutable. A live workload that runs the draft rolls to its new spec, so a spec that requests more is checked against that workload\'s quotas (QuotaExceededError).',
    workloadRole: null,
    artifacts: [{ which: 'addressed', draft: 'EDITOR', locked: 'EDITOR', because: 'it changes the artifact' }],
    allowedStates: 'draft',
    eventType: null,
    transition: 'none (draft stays draft)',
    effects: ['applies to its workload at the next restart or replace'],
  },
  lockArtifact: {
    mutation: 'lockArtifact',
    subject: 'artifact',
    action: 'locking an artifact',
    description:
      'Locks a draft artifact for good, assigning its repository\'s next version. Locking a locked artifact changes nothing. An artifact in use is locked by promoting its workload.',
    workloadRole: null,
    artifacts: [{ which: 'addressed', draft: 'EDITOR', locked: 'EDITOR', because: 'it changes the artifact and its repository' }],
    allowedStates: 'draft not in use (locked: a no-op)',
    eventType: null,
    transition: 'draft -> locked',
    effects: ['assigns the repository\'s next version'],
  },
  cloneArtifact: {
    mutation: 'cloneArtifact',
    subject: 'artifact',
    action: 'cloning an artifact',
    description:
      'Makes a new draft with a copy of the artifact\'s spec: in the same repository for an EDITOR of the source, otherwise in a new repository of the caller\'s.',
    workloadRole: null,
    artifacts: [{ which: 'addressed', draft: 'OBSERVER', locked: 'OBSERVER', because: 'it reads the spec; adding to the repository needs EDITOR' }],
    allowedStates: 'any live artifact',
    eventType: null,
    transition: '-> draft',
    effects: ['the caller becomes OWNER of the clone'],
  },
  deleteArtifact: {
    mutation: 'deleteArtifact',
    subject: 'artifact',
    action: 'deleting an artifact',
    description:
      'Deletes a draft artifact that is not in use (no live workload, proton or replacement refers to it). Locked artifacts cannot be deleted. The history of workloads that ran it keeps showing it, marked deleted.',
    workloadRole: null,
    artifacts: [{ which: 'addressed', draft: 'OWNER', locked: 'OWNER', because: 'only the owner deletes' }],
    allowedStates: 'draft not in use',
    eventType: null,
    transition: 'draft -> deleted (soft)',
    effects: ['leaves lists; stays readable through workload history'],
  },
  updateArtifactSharedRoles: {
    mutation: 'updateArtifactSharedRoles',
    subject: 'artifact',
    action: 'changing who an artifact is shared with',
    description: 'Replaces the artifact\'s whole shared-role list (at most 100 entries, at least one OWNER). OWNER only.',
    workloadRole: null,
    artifacts: [{ which: 'addressed', draft: 'OWNER', locked: 'OWNER', because: 'only the owner shares' }],
    allowedStates: 'any live artifact',
    eventType: null,
    transition: 'none (sharing)',
    effects: [],
  },
} as const satisfies { [K in MutationName]: OperationRule & { mutation: K } };

/** The row of one mutation. */
export function ruleOf(mutation: MutationName): OperationRule {
  return RULEBOOK[mutation];
}

/**
 * The role an operation needs on one artifact it touches (null: none). A workload re-running the
 * draft it already runs holds that draft's slot, so only a *different* draft needs EDITOR.
 */
export function requiredArtifactRole(
  right: ArtifactRight,
  artifact: { status: ArtifactStatus },
  options: { alreadyRunByThisWorkload?: boolean } = {},
): SharingRole | null {
  if (right.which === 'target' && options.alreadyRunByThisWorkload) return null;
  return artifact.status === 'draft' ? right.draft : right.locked;
}

/** Where a clone goes: into the source's repository for its editors, else into a new one of the cloner's. */
export function cloneDestination(roleOnSource: SharingRole | null): 'sourceRepository' | 'newRepository' {
  return roleAtLeast(roleOnSource, 'EDITOR') ? 'sourceRepository' : 'newRepository';
}

/** Why an artifact is in use: each reference that keeps it. */
export interface ArtifactReference {
  workloadId: string;
  workloadName: string;
  /** How the workload refers to it. */
  via: 'workload' | 'proton' | 'replacement';
  /** A terminated workload still refers to its artifact (delete it first) but no longer runs it. */
  terminated?: boolean;
}

/**
 * The in-use rule: an artifact is in use while a live workload runs it, a live proton (active,
 * candidate or a kept old one) runs it, or a replacement in progress switches from or to it.
 */
export function isInUse(references: readonly ArtifactReference[]): boolean {
  return references.length > 0;
}

/** Why an artifact cannot be locked, or null when it can (promote locks the artifact of its own workload). */
export function lockRefusal(
  artifact: { status: ArtifactStatus },
  references: readonly ArtifactReference[],
  via: 'lockArtifact' | 'promoteWorkload',
): 'ArtifactInUse' | null {
  if (artifact.status === 'locked') return null;
  const live = references.filter((r) => !r.terminated);
  if (via === 'promoteWorkload') return live.some((r) => r.via === 'replacement') ? 'ArtifactInUse' : null;
  return isInUse(live) ? 'ArtifactInUse' : null;
}

/** Why an artifact cannot be deleted, or null when it can. */
export function deleteRefusal(artifact: { status: ArtifactStatus }, references: readonly ArtifactReference[]): 'ArtifactLocked' | 'ArtifactInUse' | null {
  if (artifact.status === 'locked') return 'ArtifactLocked';
  return isInUse(references) ? 'ArtifactInUse' : null;
}

/** The stable reasons of a ConflictError. */
export const CONFLICT_REASONS = ['NameTaken', 'DraftTaken', 'ArtifactInUse', 'Conflict'] as const;
export type ConflictReason = (typeof CONFLICT_REASONS)[number];
