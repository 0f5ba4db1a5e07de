/**
 * Phase "apply": converges the runtime to the runtime a lifecycle state wants. Every call is
 * idempotent and made only when the runtime differs (a read first), so repeating a pass after a
 * crash, or running it twice, changes nothing more.
 */
import type { Importance } from '../domain/model.js';
import type { ProtonRuntime } from '../runtime/proton-runtime.js';
import { protonRevision } from '../runtime/proton-spec.js';
import type { DesiredRuntime } from './decide.js';

/** Makes the runtime hold what `desired` says for one workload. */
export async function applyDesired(
  runtime: ProtonRuntime,
  workload: { readonly id: string; readonly importance: Importance },
  desired: DesiredRuntime,
): Promise<void> {
  for (const { spec, onlyIfPresent } of desired.protons) {
    const current = await runtime.getProton(spec.protonId);
    // A proton being deleted is left to go; it is not brought back under the same id.
    if (current?.deletionTimestamp) continue;
    if (!current && onlyIfPresent) continue;
    if (!current || current.replicas !== spec.replicas || current.revision !== protonRevision(spec)) {
      await runtime.applyProton(spec);
    } else if (current.importance !== workload.importance) {
      await runtime.setImportance(workload.id, workload.importance);
    }
  }
  for (const protonId of desired.remove) {
    const current = await runtime.getProton(protonId);
    if (current && !current.deletionTimestamp) await runtime.deleteProton(protonId);
  }
  if (desired.route.kind === 'none') return;
  const route = await runtime.getRoute(workload.id);
  if (desired.route.kind === 'delete') {
    if (route) await runtime.deleteRoute(workload.id);
  } else {
    if (route?.protonId !== desired.route.protonId) await runtime.routeWorkload(workload.id, desired.route.protonId);
  }
}
