import type { Viewer } from '../../src/auth/viewer.js';
import type { GraphQLContext } from '../../src/graphql/context.js';
import { createAccessLoaders } from '../../src/service/access-loaders.js';

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
