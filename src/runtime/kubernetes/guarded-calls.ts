/**
 * How the Kubernetes runtime calls the API server: every failure mapped once onto the port's
 * typed errors, a read-modify-write retried from a fresh read when it lost a race, and deletes
 * that treat "already gone" as done.
 */
import { RuntimeConflictError } from '../proton-runtime.js';
import { isNotFound, isResourceVersionConflict, toRuntimeError, type ErrorContext } from './errors.js';

/** A create met an object that another writer made meanwhile: read again. */
export class RetryableRace extends Error {}

/** Runs one call, mapping any failure onto the typed set. */
export async function mappedCall<T>(context: ErrorContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toRuntimeError(error, context);
  }
}

/**
 * Runs a read-modify-write, again from the read whenever it lost a race (409, or a create that
 * met an existing object: `RetryableRace`). The first attempt reads the cache; a retry reads the
 * API server (`fresh`), since the race may have been with a cache that had not seen the other
 * writer yet. Raw failures are left to the caller to map.
 */
export async function retryingConflicts<T>(context: ErrorContext, retries: number, attempt: (fresh: boolean) => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt(i > 0);
    } catch (error) {
      const race = error instanceof RetryableRace || isResourceVersionConflict(error);
      if (!race) throw error;
      if (i >= retries) throw new RuntimeConflictError(`${context.action} ${context.objectKind} ${context.objectId}: still conflicting after ${retries} retries`, { cause: error });
      // The first retry reads fresh at once; later ones back off (another writer is busy).
      if (i > 0) await new Promise((r) => setTimeout(r, 10 + Math.random() * 40 * i));
    }
  }
}

/** Runs a call whose object may already be gone; a 404 is success. */
export async function ignoringNotFound(call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
