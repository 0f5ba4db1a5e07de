import { useEffect, useMemo, useState } from 'react';
import { Provider } from 'urql';
import { createApi } from './api';
import { ConnectionIndicator } from './components';
import { ApiContext, navigate, useRoute } from './hooks';
import { ArtifactsPage } from './pages/Artifacts';
import { CreateWorkloadPage } from './pages/CreateWorkload';
import { SignIn } from './pages/SignIn';
import { WorkloadList } from './pages/WorkloadList';
import { WorkloadPage } from './pages/WorkloadPage';
import { savedToken, saveToken, subjectOf } from './session';

export function App() {
  const [token, setToken] = useState<string | null>(savedToken);
  const api = useMemo(() => (token ? createApi(token) : null), [token]);
  useEffect(() => () => api?.dispose(), [api]);
  const route = useRoute();

  if (!api || !token) {
    return (
      <SignIn
        onSignedIn={(t) => {
          saveToken(t);
          setToken(t);
        }}
      />
    );
  }
  const [page, id] = route;
  return (
    <ApiContext.Provider value={api}>
      <Provider value={api.client}>
      <nav className="top">
        <a href="#/" className="brand">Workload API</a>
        <a href="#/">Workloads</a>
        <a href="#/new">New workload</a>
        <a href="#/artifacts">Artifacts</a>
        <a href="/graphql" target="_blank" rel="noreferrer">GraphiQL</a>
        <span className="spacer" />
        <ConnectionIndicator />
        <span className="who" data-testid="signed-in-as">{subjectOf(token)}</span>
        <button
          type="button"
          className="small"
          onClick={() => {
            saveToken(null);
            setToken(null);
            navigate();
          }}
        >
          Sign out
        </button>
      </nav>
      <main>
        {page === 'workloads' && id ? (
          <WorkloadPage key={id} id={id} />
        ) : page === 'new' ? (
          <CreateWorkloadPage />
        ) : page === 'artifacts' ? (
          <ArtifactsPage repositoryId={id} />
        ) : (
          <WorkloadList />
        )}
      </main>
      </Provider>
    </ApiContext.Provider>
  );
}
