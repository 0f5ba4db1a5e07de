import type { z } from 'zod';
import { ValidationError, type ValidationIssue } from './errors.js';

/** Parses `value` with `schema`, or throws a ValidationError naming every bad field under `path`. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, path: (string | number)[] = []): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(toIssues(result.error, path));
}

/** The issues of a zod error as field paths and messages. */
export function toIssues(error: z.ZodError, path: (string | number)[] = []): ValidationIssue[] {
  return error.issues.map((issue) => ({
    path: [...path, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))],
    message: issue.message,
  }));
}

/** Collects issues from several independent checks and throws them together, if any. */
export function throwIfIssues(issues: ValidationIssue[]): void {
  if (issues.length > 0) throw new ValidationError(issues);
}
