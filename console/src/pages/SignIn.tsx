import { useEffect, useState } from 'react';

interface Subject {
  name: string;
  token: string;
}

/** Checks a token against the API; resolves with a message when it is refused. */
async function check(token: string): Promise<string | null> {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ __typename }' }),
  });
  if (res.ok) return null;
  const body = (await res.json().catch(() => null)) as { errors?: { message: string }[] } | null;
  return body?.errors?.[0]?.message ?? `the API answered ${res.status}`;
}

export function SignIn({ onSignedIn }: { onSignedIn: (token: string) => void }) {
  const [subjects, setSubjects] = useState<Subject[]>([]);
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    // Offered by the API only in development mode, and only to a browser on its own machine.
    fetch('/console/development-subjects')
      .then((r) => (r.ok ? (r.json() as Promise<{ subjects: Subject[] }>) : { subjects: [] }))
      .then((b) => setSubjects(b.subjects))
      .catch(() => setSubjects([]));
  }, []);

  const signIn = async (t: string) => {
    setError(null);
    const problem = await check(t.trim()).catch((e: unknown) => (e instanceof Error ? e.message : 'the API cannot be reached'));
    if (problem) setError(problem);
    else onSignedIn(t.trim());
  };

  return (
    <main className="signin">
      <h1>Workload API</h1>
      {subjects.length > 0 && (
        <section className="card">
          <h2>Development subjects</h2>
          <p className="hint">Development mode: sample users, offered to a browser on the API's own machine only.</p>
          <div className="row">
            {subjects.map((s) => (
              <button key={s.name} type="button" onClick={() => void signIn(s.token)} data-subject={s.name}>
                Sign in as {s.name}
              </button>
            ))}
          </div>
        </section>
      )}
      <section className="card">
        <h2>Bearer token</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void signIn(token);
          }}
        >
          <textarea aria-label="Bearer token" rows={4} value={token} onChange={(e) => setToken(e.target.value)} placeholder="eyJhbGciOi…" />
          <button type="submit" disabled={!token.trim()}>
            Sign in
          </button>
        </form>
      </section>
      {error && (
        <div className="refusal" role="alert">
          {error}
        </div>
      )}
    </main>
  );
}
