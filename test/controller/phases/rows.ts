/** Builders shared by the phase tables: a workload state, its proton records, a policy. */
import type { ArtifactSpec } from '../../../src/domain/artifact-spec.js';
import type { WorkloadState } from '../../../src/domain/lifecycle.js';
import type { ReplacementState } from '../../../src/domain/replacement.js';
import type { ProtonRecord } from '../../../src/controller/decide.js';
import { protonRevision, protonSpecFromArtifact } from '../../../src/runtime/proton-spec.js';

export const W = 'w-1';
export const t0 = new Date('2026-01-01T00:00:00Z');
export const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

const SPEC: ArtifactSpec = {
  containerGroups: [{ name: 'default', containers: [{ name: 'app', imageUri: 'example/app:1', primary: true, port: 8080 }] }],
} as ArtifactSpec;

/** A proton record with `replicaCount` replicas. */
export function record(id: string, replicaCount = 2): ProtonRecord {
  return { id, spec: SPEC, runtime: { replicaCount } as ProtonRecord['runtime'] };
}

/** The template revision a record is applied with. */
export function revisionOf(r: ProtonRecord, replicas = r.runtime.replicaCount): string {
  return protonRevision(protonSpecFromArtifact({ workloadId: W, protonId: r.id, artifact: r.spec, runtime: r.runtime, importance: 'moderate', replicas }));
}

/** A running workload on draft `art-1` whose active proton is `p1`. */
export function running(over: Partial<WorkloadState> = {}): WorkloadState {
  return {
    status: 'running',
    statusEnteredAt: t0,
    desiredState: 'running',
    artifact: { id: 'art-1', status: 'draft' },
    active: { protonId: 'p1', artifactId: 'art-1', status: 'running' },
    ...over,
  };
}

/** A replacement onto `art-2` at `status`, entered at t0. */
export function replacement(status: ReplacementState['status'], over: Partial<ReplacementState> = {}): ReplacementState {
  return {
    status,
    fromArtifactId: 'art-1',
    toArtifactId: 'art-2',
    warmupSeconds: 0,
    keepOldVersionSeconds: 0,
    stepEnteredAt: t0,
    ...over,
  };
}
