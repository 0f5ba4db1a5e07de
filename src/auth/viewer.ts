import type { Principal } from '../domain/sharing.js';

/**
 * Who is calling: the subject a request acts as, with the groups, organization and roles it holds,
 * and when the credentials it was authenticated with stop being valid (the token's `exp`, in ms
 * since the epoch; absent for viewers made without a token). Connections that outlive a request
 * (WebSockets, SSE streams) end at that moment.
 */
export type Viewer = Principal & { readonly expiresAt?: number };

/** A viewer that is a plain user with no groups, organization or roles. */
export function userViewer(userId: string): Viewer {
  return { userId, groups: [], organization: null, roles: [], isPlatformAdmin: false };
}

/** setTimeout's largest delay; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `expired` once the viewer's credentials expire (wall-clock time, as token verification
 * uses), never if they do not; returns the function that cancels it. Tokens may live for months:
 * longer waits than a timer can hold are taken in steps.
 */
export function whenCredentialsExpire(viewer: Viewer, expired: () => void, now: () => number = Date.now): () => void {
  const at = viewer.expiresAt;
  if (at === undefined) return () => {};
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = at - now();
    if (left <= 0) {
      timer = undefined;
      expired();
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}
