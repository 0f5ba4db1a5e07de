import type { Principal } from '../domain/sharing.js';

/** Who is calling: the subject a request acts as, with the groups, organization and roles it holds. */
export type Viewer = Principal;

/** A viewer that is a plain user with no groups, organization or roles. */
export function userViewer(userId: string): Viewer {
  return { userId, groups: [], organization: null, roles: [], isPlatformAdmin: false };
}
