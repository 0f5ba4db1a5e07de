import { randomUUID } from 'node:crypto';
import type { Viewer } from '../../src/auth/viewer.js';
import type { GraphQLContext } from '../../src/graphql/context.js';
import { createAccessLoaders } from '../../src/service/access-loaders.js';
import type { WorkloadPage } from '../../src/service/workload.service.js';

/**
 * A context for executing the real schema with services a test hands over (as a faulty or
 * special service would), no database: the roles a test needs are primed by what its services
 * return (a page primes its rows' roles), and a role that is not fails the test.
 */
export function schemaContext(viewer: Viewer, services: Record<string, unknown>): GraphQLContext {
  return {
    viewer,
    em: {} as never,
    services,
    access: createAccessLoaders(() => {
      throw new Error('a primed role needs no database');
    }, viewer),
    publicBaseUrl: 'http://api.test',
    live: {} as never,
  } as unknown as GraphQLContext;
}

/**
 * A page of one workload owned by the caller, on a draft artifact read without its spec (as a
 * list that names no `spec` reads it), with no protons: what a service's `view` or `list` hands
 * the schema.
 */
export function pageOfOne(): { page: WorkloadPage; workloadId: string; artifactId: string } {
  const workloadId = randomUUID();
  const artifactId = randomUUID();
  const page = {
    workloads: [{ id: workloadId, name: 'w', status: 'running', artifact: { id: artifactId }, lifecycle: null }],
    protons: new Map([[workloadId, []]]),
    artifacts: [{ id: artifactId, name: 'a', status: 'draft', version: null, spec: null }],
    workloadRoles: new Map([[workloadId, 'OWNER']]),
    artifactRoles: new Map([[artifactId, 'OWNER']]),
  } as unknown as WorkloadPage;
  return { page, workloadId, artifactId };
}
