import type { WorkloadController } from '../controller/controller.js';
import type { WorkloadPubSub } from '../pubsub/topics.js';
import type { ProtonRuntime } from '../runtime/proton-runtime.js';
import type { Orm } from '../store/orm.js';
import type { LifecyclePolicy } from '../domain/policy.js';
import { ArtifactService } from './artifact.service.js';
import type { Clock } from './clock.js';
import type { ImportancePolicy } from '../domain/quota.js';
import { QuotaService, type QuotaSettings } from './quota.js';
import { WorkloadService } from './workload.service.js';

export interface Services {
  artifacts: ArtifactService;
  workloads: WorkloadService;
  quotas: QuotaService;
}

/** Builds the service layer over one ORM, clock and pub/sub. */
export function createServices(deps: {
  orm: Orm;
  clock: Clock;
  pubsub: WorkloadPubSub;
  controller: WorkloadController;
  runtime: ProtonRuntime;
  /** The draft lifetime (and deadlines), from configuration. */
  policy: LifecyclePolicy;
  maxReplicas: number;
  importance: ImportancePolicy;
  quotas: QuotaSettings;
}): Services {
  const quotas = new QuotaService(deps);
  const artifacts = new ArtifactService({ ...deps, quotas });
  const workloads = new WorkloadService({ ...deps, artifacts, quotas });
  return { artifacts, workloads, quotas };
}
