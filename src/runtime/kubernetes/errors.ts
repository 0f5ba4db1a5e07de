/**
 * Kubernetes failures mapped once onto the port's typed `RuntimeError` set. Every call of the
 * adapter goes through `toRuntimeError`, so nothing above it ever sees an HTTP status.
 */
import { ApiException } from '@kubernetes/client-node';
import {
  RuntimeConflictError,
  RuntimeError,
  RuntimeInvalidError,
  RuntimeNotFoundError,
  RuntimeUnavailableError,
} from '../proton-runtime.js';

/** The fields of a Kubernetes `Status` body that explain a failure. */
export interface KubernetesStatus {
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

/** What was being done when the call failed: names the object for `RuntimeNotFoundError`. */
export interface ErrorContext {
  readonly objectKind: 'proton' | 'route' | 'pod';
  readonly objectId: string;
  readonly action: string;
}

/** The HTTP status of a failed call, if it reached the API server. */
export function httpStatusOf(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  const code = (error as { statusCode?: unknown; code?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The `Status` body of a failed call, parsed if the client left it as text. */
export function statusBodyOf(error: unknown): KubernetesStatus | undefined {
  if (!(error instanceof ApiException)) return undefined;
  const body: unknown = error.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as KubernetesStatus;
    } catch {
      return { message: body };
    }
  }
  return body !== null && typeof body === 'object' ? (body as KubernetesStatus) : undefined;
}

/** Whether the API server refused a write because the object changed since it was read (409 Conflict, not AlreadyExists). */
export function isResourceVersionConflict(error: unknown): boolean {
  return httpStatusOf(error) === 409 && statusBodyOf(error)?.reason !== 'AlreadyExists';
}

/** Whether the object already exists (409 AlreadyExists). */
export function isAlreadyExists(error: unknown): boolean {
  return httpStatusOf(error) === 409 && statusBodyOf(error)?.reason === 'AlreadyExists';
}

/** Whether the object does not exist (404). */
export function isNotFound(error: unknown): boolean {
  return httpStatusOf(error) === 404;
}

/** Maps any failure of a Kubernetes call onto the typed set; a `RuntimeError` passes through. */
export function toRuntimeError(error: unknown, context: ErrorContext): RuntimeError {
  if (error instanceof RuntimeError) return error;
  const status = httpStatusOf(error);
  const detail = statusBodyOf(error)?.message ?? (error instanceof Error ? error.message.split('\n')[0] : String(error));
  const message = `${context.action} ${context.objectKind} ${context.objectId}: ${detail}`;
  const options = { cause: error };
  if (status === undefined) return new RuntimeUnavailableError(`${message} (the API server could not be reached)`, options);
  if (status === 404) return new RuntimeNotFoundError(context.objectKind, context.objectId, options);
  if (status === 409) return new RuntimeConflictError(message, options);
  if (status === 400 || status === 422) return new RuntimeInvalidError(message, options);
  if (status === 401 || status === 403) {
    // Credentials or RBAC: an operator must fix it, but the process may get there (rotated token).
    return new RuntimeUnavailableError(`${message} (HTTP ${status}: check the service account's permissions)`, options);
  }
  if (status === 408 || status === 429 || status >= 500) return new RuntimeUnavailableError(message, options);
  return new RuntimeInvalidError(`${message} (HTTP ${status})`, options);
}
