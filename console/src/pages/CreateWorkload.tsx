import { useEffect, useState } from 'react';
import { ApiError } from '../api';
import { RefusalView, Section } from '../components';
import { ConsoleArtifactsDocument, ConsoleCreateWorkloadDocument, type ArtifactRowFragment, type Importance, type RefusalFragment } from '../gql/graphql';
import { navigate, useApi } from '../hooks';

const EXAMPLE_SPEC = JSON.stringify(
  { containerGroups: [{ name: 'default', containers: [{ name: 'app', imageUri: 'ghcr.io/example/hello:1.0', primary: true, port: 8080 }] }] },
  null,
  2,
);

export function CreateWorkloadPage() {
  const api = useApi();
  const [name, setName] = useState('');
  const [importance, setImportance] = useState<Importance>('MODERATE');
  const [replicas, setReplicas] = useState(1);
  const [source, setSource] = useState<'spec' | 'artifact'>('spec');
  const [spec, setSpec] = useState(EXAMPLE_SPEC);
  const [artifactId, setArtifactId] = useState('');
  const [artifacts, setArtifacts] = useState<ArtifactRowFragment[]>([]);
  const [refusal, setRefusal] = useState<RefusalFragment | { __typename: 'TransportError'; message: string } | null>(null);

  useEffect(() => {
    void api.query(ConsoleArtifactsDocument, { first: 30 }).then((d) => setArtifacts(d.artifacts.edges.map((e) => e.node)));
  }, [api]);

  const submit = async () => {
    setRefusal(null);
    let parsed: unknown;
    if (source === 'spec') {
      try {
        parsed = JSON.parse(spec);
      } catch (e) {
        setRefusal({ __typename: 'TransportError', message: `the spec is not JSON: ${e instanceof Error ? e.message : String(e)}` });
        return;
      }
    }
    try {
      const { createWorkload } = await api.mutate(ConsoleCreateWorkloadDocument, {
        input: {
          name,
          importance,
          runtime: { replicaCount: replicas },
          ...(source === 'spec' ? { artifact: { name, spec: parsed as never } } : { artifactId }),
        },
      });
      if (createWorkload.__typename === 'CreateWorkloadPayload') navigate('workloads', createWorkload.workload.id);
      else setRefusal(createWorkload);
    } catch (e) {
      setRefusal({ __typename: 'TransportError', message: e instanceof ApiError ? e.message : String(e) });
    }
  };

  return (
    <>
      <h1>New workload</h1>
      <Section title="Workload">
        <form
          className="stack"
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <label>
            Name <input aria-label="Name" value={name} onChange={(e) => setName(e.target.value)} required />
          </label>
          <label>
            Importance{' '}
            <select aria-label="Importance" value={importance} onChange={(e) => setImportance(e.target.value as Importance)}>
              {(['LOW', 'MODERATE', 'HIGH', 'CRITICAL'] as const).map((i) => (
                <option key={i}>{i}</option>
              ))}
            </select>
          </label>
          <label>
            Replicas <input aria-label="Replicas" type="number" min={0} value={replicas} onChange={(e) => setReplicas(Number(e.target.value))} />
          </label>
          <div className="row">
            <label className="check">
              <input type="radio" checked={source === 'spec'} onChange={() => setSource('spec')} /> a new draft from a spec
            </label>
            <label className="check">
              <input type="radio" checked={source === 'artifact'} onChange={() => setSource('artifact')} /> an existing artifact
            </label>
          </div>
          {source === 'spec' ? (
            <textarea aria-label="Spec" rows={10} value={spec} onChange={(e) => setSpec(e.target.value)} className="code" />
          ) : (
            <select aria-label="Artifact" value={artifactId} onChange={(e) => setArtifactId(e.target.value)}>
              <option value="">choose…</option>
              {artifacts.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name} {a.status === 'LOCKED' ? `v${a.version}` : '(draft)'}
                </option>
              ))}
            </select>
          )}
          <button type="submit">Create</button>
          <RefusalView refusal={refusal} />
        </form>
      </Section>
    </>
  );
}
