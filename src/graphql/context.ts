import type { EntityManager } from '@mikro-orm/postgresql';
import type { Viewer } from '../auth/viewer.js';
import type { AccessLoaders } from '../service/access-loaders.js';
import type { Services } from '../service/index.js';

/** What every resolver sees: who is calling, a request-scoped EntityManager, and the services. */
export interface GraphQLContext {
  viewer: Viewer;
  /** Forked per request: its identity map lives and dies with the request. */
  em: EntityManager;
  services: Services;
  /** The caller's roles, batched and cached for this request. */
  access: AccessLoaders;
  /** Base of the invoke endpoints, without a trailing slash. */
  publicBaseUrl: string;
}
