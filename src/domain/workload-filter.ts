import type { ArtifactStatus, Importance, WorkloadStatus } from './model.js';

/** A list view's filter, as `workloads(filter)` and `workloadsChanged(filter)` take it. */
export interface WorkloadListFilter {
  status?: readonly WorkloadStatus[] | null;
  importance?: readonly Importance[] | null;
  artifactStatus?: ArtifactStatus | null;
  artifactId?: string | null;
  search?: string | null;
}

/** The facts of a workload a list filter looks at. */
export interface WorkloadListFacts {
  status: WorkloadStatus;
  importance: Importance;
  artifactStatus: ArtifactStatus;
  artifactId: string;
  name: string;
  description: string;
  deleted: boolean;
}

/**
 * Whether a workload belongs in a list view with this filter: the in-memory twin of the SQL
 * filter of `WorkloadService.list` (search is a case-insensitive substring of name or description).
 */
export function matchesWorkloadFilter(w: WorkloadListFacts, f: WorkloadListFilter): boolean {
  if (w.deleted) return false;
  if (f.status?.length && !f.status.includes(w.status)) return false;
  if (f.importance?.length && !f.importance.includes(w.importance)) return false;
  if (f.artifactStatus && w.artifactStatus !== f.artifactStatus) return false;
  if (f.artifactId && w.artifactId !== f.artifactId) return false;
  if (f.search) {
    const term = f.search.toLowerCase();
    if (!w.name.toLowerCase().includes(term) && !w.description.toLowerCase().includes(term)) return false;
  }
  return true;
}

/**
 * How far a subscriber has fallen behind: the events known to exist, beyond those it was sent and
 * beyond the backlog it asked for when it subscribed (a replay is not lag).
 */
export function subscriberLag(newestKnown: number, delivered: number, backlogEnd: number): number {
  return Math.max(0, newestKnown - Math.max(delivered, backlogEnd));
}
