import { PothosValidationError } from '@pothos/core';
import { AuthScopeFailureType, ForbiddenError } from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { maskError } from '../src/error-masking.js';
import { InvalidCursorError } from '../src/store/pagination.js';

/** An error as the executor hands it to masking: a GraphQLError at a path around what a resolver threw. */
const located = (original: Error) => new GraphQLError(original.message, { path: ['workloads', 'edges', 0, 'node'], originalError: original });
const shown = (error: Error) => {
  const e = error as GraphQLError;
  return { message: e.message, code: e.extensions?.code, path: e.path };
};

describe('what a client sees of an error raised while executing', () => {
  it('says FORBIDDEN for an object its type\'s check refused, with its message and path', () => {
    const refused = new ForbiddenError('Not authorized to read fields for Workload', { kind: AuthScopeFailureType.AnyAuthScopes, failures: [] });
    expect(shown(maskError(located(refused), 'Unexpected error.'))).toEqual({
      message: 'Not authorized to read fields for Workload',
      code: 'FORBIDDEN',
      path: ['workloads', 'edges', 0, 'node'],
    });
  });

  it('keeps the typed codes of what is raised on purpose', () => {
    const invalid = located(new PothosValidationError('bad input'));
    expect(maskError(invalid, 'Unexpected error.')).toBe(invalid);
    expect(shown(maskError(located(new InvalidCursorError('after')), 'Unexpected error.'))).toMatchObject({ code: 'INVALID_CURSOR' });
    const onPurpose = new GraphQLError('Variable "$n" got invalid value', { extensions: { code: 'BAD_USER_INPUT' } });
    expect(maskError(onPurpose, 'Unexpected error.')).toBe(onPurpose);
  });

  it('masks anything else as INTERNAL_SERVER_ERROR, keeping its cause for the log, shown only in development', () => {
    const bug = new TypeError('cannot read properties of undefined');
    const masked = maskError(located(bug), 'Unexpected error.') as GraphQLError;
    expect(shown(masked)).toMatchObject({ message: 'Unexpected error.', code: 'INTERNAL_SERVER_ERROR' });
    expect(masked.originalError).toBe(bug);
    expect(masked.extensions.originalError).toBeUndefined();
    expect((maskError(located(bug), 'Unexpected error.', true) as GraphQLError).extensions.originalError).toEqual({ name: 'TypeError', message: bug.message });
    // Masked once, it passes through again unchanged.
    expect(maskError(masked, 'Unexpected error.')).toBe(masked);
  });
});
