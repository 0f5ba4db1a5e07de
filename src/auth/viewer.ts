/** Who is calling: the subject a request acts as, with the groups, organization and roles it holds. */
export interface Viewer {
  userId: string;
  groups: string[];
  organization: string | null;
  roles: string[];
}

/** A viewer that is a plain user with no groups, organization or roles. */
export function userViewer(userId: string): Viewer {
  return { userId, groups: [], organization: null, roles: [] };
}
