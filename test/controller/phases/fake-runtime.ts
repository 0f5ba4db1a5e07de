/**
 * A runtime that holds protons and routes in memory and records every mutation, for the phase
 * tables (Knative's `WantCreates` / `WantUpdates` / `WantDeletes`). Pods are whatever a row gives.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Importance } from '../../../src/domain/model.js';
import type {
  ObservedProton,
  ProtonRuntime,
  ProtonSpec,
  RuntimeFilter,
  WorkloadRoute,
} from '../../../src/runtime/proton-runtime.js';
import type { RouteResolution } from '../../../src/runtime/route-resolver.js';
import { protonRevision } from '../../../src/runtime/proton-spec.js';

/** What one mutation did, in a form a table row can spell out. */
export type RuntimeAction =
  | { create: string; replicas: number }
  | { update: string; replicas: number; revision: string }
  | { delete: string }
  | { importance: string; to: Importance }
  | { route: string; to: string | null }
  | { deleteRoute: string };

/** A proton as a row seeds it. */
export interface SeedProton {
  workloadId: string;
  protonId: string;
  replicas: number;
  importance?: Importance;
  revision?: string;
  deleting?: boolean;
}

export class FakeRuntime implements ProtonRuntime {
  readonly kind = 'simulated';
  readonly actions: RuntimeAction[] = [];
  readonly protons = new Map<string, ObservedProton>();
  readonly routes = new Map<string, WorkloadRoute>();
  pods: V1Pod[] = [];

  constructor(seed: { protons?: SeedProton[]; routes?: WorkloadRoute[]; pods?: V1Pod[] } = {}) {
    for (const p of seed.protons ?? []) this.protons.set(p.protonId, observed(p));
    for (const r of seed.routes ?? []) this.routes.set(r.workloadId, r);
    this.pods = seed.pods ?? [];
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async resync(): Promise<void> {}
  isSynced(): boolean {
    return true;
  }
  podWatchRestarts(): number {
    return 0;
  }

  async applyProton(spec: ProtonSpec): Promise<ObservedProton> {
    const revision = protonRevision(spec);
    const current = this.protons.get(spec.protonId);
    this.actions.push(current ? { update: spec.protonId, replicas: spec.replicas, revision } : { create: spec.protonId, replicas: spec.replicas });
    const next = observed({ workloadId: spec.workloadId, protonId: spec.protonId, replicas: spec.replicas, importance: spec.importance, revision });
    this.protons.set(spec.protonId, next);
    return next;
  }

  async scaleProton(protonId: string, replicas: number): Promise<ObservedProton> {
    const current = this.protons.get(protonId)!;
    this.actions.push({ update: protonId, replicas, revision: current.revision });
    const next = { ...current, replicas };
    this.protons.set(protonId, next);
    return next;
  }

  async deleteProton(protonId: string): Promise<void> {
    this.actions.push({ delete: protonId });
    this.protons.delete(protonId);
  }

  async setImportance(workloadId: string, importance: Importance): Promise<void> {
    this.actions.push({ importance: workloadId, to: importance });
    for (const [id, p] of this.protons) if (p.workloadId === workloadId) this.protons.set(id, { ...p, importance });
  }

  async listProtons(filter: RuntimeFilter = {}): Promise<readonly ObservedProton[]> {
    return [...this.protons.values()].filter((p) => (!filter.workloadId || p.workloadId === filter.workloadId) && (!filter.protonId || p.protonId === filter.protonId));
  }

  async getProton(protonId: string): Promise<ObservedProton | undefined> {
    return this.protons.get(protonId);
  }

  async routeWorkload(workloadId: string, protonId: string | null): Promise<WorkloadRoute> {
    this.actions.push({ route: workloadId, to: protonId });
    const route = { workloadId, protonId };
    this.routes.set(workloadId, route);
    return route;
  }

  async deleteRoute(workloadId: string): Promise<void> {
    this.actions.push({ deleteRoute: workloadId });
    this.routes.delete(workloadId);
  }

  async getRoute(workloadId: string): Promise<WorkloadRoute | undefined> {
    return this.routes.get(workloadId);
  }

  async resolveRoute(workloadId: string): Promise<RouteResolution> {
    const route = this.routes.get(workloadId);
    return { kind: 'unroutable', protonId: route?.protonId ?? null, reason: route ? 'NoReadyReplica' : 'NoRoute' };
  }

  watchPods(): () => void {
    return () => undefined;
  }

  async listPods(): Promise<readonly V1Pod[]> {
    return this.pods;
  }
}

function observed(p: SeedProton): ObservedProton {
  return {
    workloadId: p.workloadId,
    protonId: p.protonId,
    importance: p.importance ?? 'moderate',
    replicas: p.replicas,
    revision: p.revision ?? 'rev',
    generation: 1,
    creationTimestamp: new Date(0),
    ...(p.deleting && { deletionTimestamp: new Date(0) }),
    status: { replicas: p.replicas, updatedReplicas: p.replicas, readyReplicas: p.replicas },
  };
}
