import type { EntityManager } from '@mikro-orm/postgresql';
import type { Viewer } from '../auth/viewer.js';
import type { AccessLoaders } from '../service/access-loaders.js';
import type { Services } from '../service/index.js';
import type { LiveService } from '../service/live.service.js';

/** What a transport lets the server do to the connection an operation arrived on. */
export interface ConnectionControls {
  /** Closes the connection with a WebSocket close code (see src/transport/close-codes.ts). */
  close(code: number, reason: string): void;
}

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
  /** Live streams behind the subscriptions. */
  live: LiveService;
  /** Set for operations that arrived over a WebSocket connection. */
  connection?: ConnectionControls;
}
