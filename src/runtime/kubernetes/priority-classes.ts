import type { SchedulingV1Api } from '@kubernetes/client-node';
import { LABELS, MANAGED_BY, PRIORITY_CLASSES } from '../conventions.js';
import { httpStatusOf, isAlreadyExists, isNotFound, type ErrorContext } from './errors.js';
import { mappedCall } from './guarded-calls.js';

/**
 * Makes sure the four PriorityClasses exist. Each is read first: where an operator applied them
 * (deploy/15-priorityclasses.yaml) the service account needs only `get` on those names, not
 * `create` on every PriorityClass of the cluster. A missing one is created, which needs `create`.
 */
export async function ensurePriorityClasses(scheduling: SchedulingV1Api): Promise<void> {
  for (const [importance, pc] of Object.entries(PRIORITY_CLASSES)) {
    const context: ErrorContext = { objectKind: 'proton', objectId: `PriorityClass ${pc.name}`, action: 'ensure' };
    await mappedCall(context, async () => {
      try {
        await scheduling.readPriorityClass({ name: pc.name });
        return;
      } catch (error) {
        // Not there, or not ours to read (an older grant of create only): create it.
        if (!isNotFound(error) && httpStatusOf(error) !== 403) throw error;
      }
      try {
        await scheduling.createPriorityClass({
          body: {
            apiVersion: 'scheduling.k8s.io/v1',
            kind: 'PriorityClass',
            metadata: { name: pc.name, labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.importance]: importance } },
            value: pc.value,
            globalDefault: false,
            description: `Workload API: pods of workloads of ${importance} importance.`,
          },
        });
      } catch (error) {
        if (!isAlreadyExists(error)) throw error;
      }
    });
  }
}
