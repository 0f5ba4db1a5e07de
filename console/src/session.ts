/** The signed-in bearer token, kept in this browser's local storage until sign-out. */
const KEY = 'workload-console.token';

export function savedToken(): string | null {
  return localStorage.getItem(KEY);
}

export function saveToken(token: string | null): void {
  if (token) localStorage.setItem(KEY, token);
  else localStorage.removeItem(KEY);
}

/** Who a token names (its `sub`), for display only: the API checks the token itself. */
export function subjectOf(token: string): string {
  try {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { sub?: unknown };
    return typeof payload.sub === 'string' ? payload.sub : 'unknown';
  } catch {
    return 'unknown';
  }
}
