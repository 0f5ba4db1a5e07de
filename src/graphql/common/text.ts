import { GraphQLError } from 'graphql';
import { describeText, TEXT_LIMITS, textProblem, type TextKind } from '../../domain/validate.js';

export { TEXT_LIMITS };

/** The description of a text input: what it is, then its cap and character rule (the rule the domain checks). */
export function textDescription(what: string | undefined, kind: TextKind, max: number): string {
  return what ? `${what} ${describeText(kind, max)}` : describeText(kind, max);
}

/**
 * Refuses a text argument of a query or subscription (mutations validate in the services and
 * answer a typed ValidationError) before anything reads the database: a top-level error with
 * `code: VALIDATION`, the `argument` and the `path` of the offending field.
 */
export function checkTextArgument(value: string | null | undefined, kind: TextKind, max: number, path: [string, ...string[]]): void {
  if (value == null) return;
  const problem = textProblem(value, kind, max);
  if (problem === undefined) return;
  const name = path.join('.');
  throw new GraphQLError(`"${name}" ${problem}`, {
    extensions: { code: 'VALIDATION', argument: path[0], path, issues: [{ path, message: problem }] },
  });
}

/** The rule of a filter's `search`. */
export const SEARCH_DESCRIPTION = textDescription('Case-insensitive substring of the name or description.', 'line', TEXT_LIMITS.search);

/** Refuses a filter's `search` that is too long or holds control characters. */
export function checkSearch(filter: { search?: string | null } | null | undefined): void {
  checkTextArgument(filter?.search, 'line', TEXT_LIMITS.search, ['filter', 'search']);
}
