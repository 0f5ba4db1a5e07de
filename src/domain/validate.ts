import { z } from 'zod';
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

/**
 * The longest value of each free-text input, in UTF-16 code units (what JavaScript and GraphQL
 * count). The schema's descriptions quote these numbers; every one is checked before any query
 * runs, so that no input reaches a `LIKE`, a regular expression or a row unbounded.
 */
export const TEXT_LIMITS = {
  /** Workload and artifact names. */
  name: 255,
  description: 10_000,
  /** `search` of the workload and artifact filters (a substring of a name or description). */
  search: 255,
  imageUri: 512,
  environmentVariableName: 255,
  environmentVariableValue: 32_768,
  entrypointItem: 4096,
  /** Kubernetes quantities (`cpu`, `memory`). */
  quantity: 64,
  probePath: 2048,
  /** Container names are DNS labels. */
  containerName: 63,
  /** A user id, group, organization or platform role in a shared role. */
  subjectId: 255,
  /** An id argument (a global id or a raw UUID). */
  id: 256,
  /** A pagination cursor (`after`, `before`). */
  cursor: 512,
} as const;

/**
 * Which characters a text may hold. `line`: a name, a search, an id, a URI: no control character at
 * all. `multiline`: a description, an environment variable's value, an entrypoint item: tab, line
 * feed and carriage return are allowed (scripts, certificates), other control characters are not.
 * Neither may hold an unpaired UTF-16 surrogate: it has no UTF-8 form, and PostgreSQL refuses it
 * (as it refuses NUL) with an error that is no fault of the server's.
 */
export type TextKind = 'line' | 'multiline';

// C0 controls, DEL and C1 controls; the multi-line kind lets \t, \n and \r through.
const LINE_CONTROL = /[\u0000-\u001F\u007F-\u009F]/;
const MULTILINE_CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const codePoint = (c: string) => `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/** What is wrong with `value` as a text of `kind` of at most `max` characters, or undefined when nothing is. */
export function textProblem(value: string, kind: TextKind, max: number): string | undefined {
  if (value.length > max) return `must be at most ${max} characters (got ${value.length})`;
  const control = (kind === 'line' ? LINE_CONTROL : MULTILINE_CONTROL).exec(value);
  if (control) {
    const allowed = kind === 'multiline' ? ' other than tab, line feed and carriage return' : '';
    return `must not contain control characters${allowed} (found ${codePoint(control[0])} at position ${control.index})`;
  }
  const surrogate = LONE_SURROGATE.exec(value);
  if (surrogate) return `must be well-formed Unicode (found an unpaired surrogate ${codePoint(surrogate[0])} at position ${surrogate.index})`;
  return undefined;
}

/** The sentence the schema's descriptions use for a text input's rule. */
export function describeText(kind: TextKind, max: number): string {
  return kind === 'line'
    ? `At most ${max} characters, no control characters.`
    : `At most ${max} characters; no control characters other than tab, line feed and carriage return.`;
}

/** A zod string of `kind` and at most `max` characters: the length is checked first, and alone when it fails. */
export function textSchema(kind: TextKind, max: number) {
  return z
    .string()
    .max(max, { message: `must be at most ${max} characters`, abort: true })
    .superRefine((value, ctx) => {
      const problem = textProblem(value, kind, max);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
}
