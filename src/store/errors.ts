import { DriverException, UniqueConstraintViolationException } from '@mikro-orm/core';

/** The name of the unique constraint or index that `err` violated, if it is such a violation. */
export function violatedUniqueConstraint(err: unknown): string | undefined {
  if (!(err instanceof UniqueConstraintViolationException)) return undefined;
  const e = err as UniqueConstraintViolationException & { constraint?: string };
  if (e.constraint) return e.constraint;
  const match = /unique constraint "([^"]+)"/.exec(e.message);
  return match?.[1];
}

/** Whether `err` was raised by one of the model's own guard triggers (SQLSTATE `WLxxx`). */
export function isGuardViolation(err: unknown): boolean {
  return err instanceof DriverException && typeof err.code === 'string' && err.code.startsWith('WL');
}
