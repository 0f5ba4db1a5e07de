/**
 * Draft time-to-live arithmetic (SPEC.md section 3, rule 2). A workload on a draft artifact
 * expires a configured time (`DRAFT_TTL_SECONDS`) after creation; each start or restart resets the clock; promotion (and
 * any locked artifact) means no TTL at all.
 */
import type { ArtifactStatus } from './model.js';

/** When a workload on an artifact of this status expires if its clock (re)starts at `from`; undefined for locked artifacts. */
export function draftExpiresAt(
  artifactStatus: ArtifactStatus,
  from: Date,
  ttlMs: number,
): Date | undefined {
  if (artifactStatus !== 'draft') return undefined;
  return new Date(from.getTime() + ttlMs);
}

/** Whether a workload with this expiry has reached it at `now` (never, without an expiry). */
export function isExpired(expiresAt: Date | undefined, now: Date): boolean {
  return expiresAt !== undefined && now.getTime() >= expiresAt.getTime();
}

/** Milliseconds left before expiry (0 once expired); undefined without an expiry. */
export function remainingTtlMs(expiresAt: Date | undefined, now: Date): number | undefined {
  if (expiresAt === undefined) return undefined;
  return Math.max(0, expiresAt.getTime() - now.getTime());
}
