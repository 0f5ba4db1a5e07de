import { useCallback, useEffect, useState } from 'react';
import { ApiError } from '../api';
import { RefusalView, roleRefusal, Section, StatusBadge, when } from '../components';
import {
  ConsoleArtifactDocument,
  ConsoleArtifactsDocument,
  ConsoleCloneArtifactDocument,
  ConsoleCreateArtifactDocument,
  ConsoleDeleteArtifactDocument,
  ConsoleLockArtifactDocument,
  ConsoleUpdateArtifactDocument,
  type ArtifactRowFragment,
  type RefusalFragment,
  type SharingRole,
  type SubjectType,
} from '../gql/graphql';
import { navigate, useApi } from '../hooks';
import { SharingEditor } from './SharingEditor';

type Refusal = RefusalFragment | { __typename: 'TransportError'; message: string };

export function ArtifactsPage({ repositoryId }: { repositoryId?: string }) {
  const api = useApi();
  const [artifacts, setArtifacts] = useState<ArtifactRowFragment[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      const d = await api.query(ConsoleArtifactsDocument, { first: 30, ...(repositoryId && { filter: { repositoryId } }) });
      setArtifacts(d.artifacts.edges.map((e) => e.node));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, [api, repositoryId]);
  useEffect(() => {
    void load();
  }, [load]);
  const current = artifacts.find((a) => a.id === selected) ?? null;
  return (
    <>
      <h1>{repositoryId ? 'Versions of a repository' : 'Artifacts'}</h1>
      {repositoryId && <a href="#/artifacts">← all artifacts</a>}
      {error && <div className="refusal">{error}</div>}
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Status</th>
            <th>Version</th>
            <th>Image</th>
            <th>Role</th>
            <th>Updated</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {artifacts.map((a) => (
            <tr key={a.id} className={a.id === selected ? 'selected' : ''} data-artifact={a.name}>
              <td>
                <button type="button" className="link" onClick={() => setSelected(a.id)}>
                  {a.name}
                </button>
              </td>
              <td>
                <StatusBadge status={a.status === 'LOCKED' ? 'COMPLETED' : 'SUBMITTED'} title={a.status} />
                <span className="hint"> {a.status.toLowerCase()}</span>
              </td>
              <td>{a.version ?? '—'}</td>
              <td>
                <code>{a.spec.containerGroups[0]?.containers[0]?.imageUri}</code>
              </td>
              <td>{a.viewerRole.toLowerCase()}</td>
              <td>{when(a.updatedAt)}</td>
              <td>
                <a href={`#/artifacts/${encodeURIComponent(a.repositoryId)}`}>versions</a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <NewArtifact onCreated={(id) => void load().then(() => setSelected(id))} />
      {current && <ArtifactEditor key={current.id + current.updatedAt} artifact={current} onChanged={(id) => void load().then(() => setSelected(id ?? null))} />}
    </>
  );
}

function NewArtifact({ onCreated }: { onCreated: (id: string) => void }) {
  const api = useApi();
  const [name, setName] = useState('');
  const [image, setImage] = useState('ghcr.io/example/hello:1.0');
  const [refusal, setRefusal] = useState<Refusal | null>(null);
  return (
    <Section title="New draft artifact">
      <form
        className="inline"
        onSubmit={(e) => {
          e.preventDefault();
          setRefusal(null);
          void api
            .mutate(ConsoleCreateArtifactDocument, {
              input: { name, spec: { containerGroups: [{ name: 'default', containers: [{ name: 'app', imageUri: image, primary: true, port: 8080 }] }] } },
            })
            .then((d) => (d.createArtifact.__typename === 'CreateArtifactPayload' ? onCreated(d.createArtifact.artifact.id) : setRefusal(d.createArtifact)))
            .catch((err: unknown) => setRefusal({ __typename: 'TransportError', message: err instanceof ApiError ? err.message : String(err) }));
        }}
      >
        <input aria-label="Artifact name" placeholder="name" value={name} onChange={(e) => setName(e.target.value)} />
        <input aria-label="Image" value={image} onChange={(e) => setImage(e.target.value)} size={40} />
        <button type="submit">Create draft</button>
        <RefusalView refusal={refusal} />
      </form>
    </Section>
  );
}

function ArtifactEditor({ artifact: a, onChanged }: { artifact: ArtifactRowFragment; onChanged: (id?: string) => void }) {
  const api = useApi();
  const [description, setDescription] = useState(a.description);
  const [spec, setSpec] = useState(JSON.stringify(a.spec, null, 2));
  const [refusals, setRefusals] = useState<Record<string, Refusal | null>>({});
  const editor = roleRefusal(a.viewerRole, 'EDITOR');
  const owner = roleRefusal(a.viewerRole, 'OWNER');
  const locked = a.status === 'LOCKED' ? 'a locked artifact cannot change' : null;

  const act = async (key: string, call: () => Promise<RefusalFragment | { __typename: string; artifact: { id: string } }>) => {
    setRefusals((r) => ({ ...r, [key]: null }));
    try {
      const result = await call();
      if ('code' in result) setRefusals((r) => ({ ...r, [key]: result }));
      else onChanged(key === 'delete' ? undefined : result.artifact.id);
    } catch (e) {
      setRefusals((r) => ({ ...r, [key]: { __typename: 'TransportError', message: e instanceof Error ? e.message : String(e) } }));
    }
  };

  return (
    <>
      <Section title={`${a.name} ${a.status === 'LOCKED' ? `v${a.version}` : '(draft)'}`}>
        <form
          className="stack"
          onSubmit={(e) => {
            e.preventDefault();
            let parsed: unknown;
            try {
              parsed = JSON.parse(spec);
            } catch {
              setRefusals((r) => ({ ...r, save: { __typename: 'TransportError', message: 'the spec is not JSON' } }));
              return;
            }
            void act('save', async () => (await api.mutate(ConsoleUpdateArtifactDocument, { input: { id: a.id, description, spec: stripTypename(parsed) as never } })).updateArtifact);
          }}
        >
          <label>
            Description <input aria-label="Description" value={description} disabled={Boolean(editor ?? locked)} onChange={(e) => setDescription(e.target.value)} />
          </label>
          <textarea aria-label="Artifact spec" className="code" rows={10} value={spec} disabled={Boolean(editor ?? locked)} onChange={(e) => setSpec(e.target.value)} />
          <div className="row">
            <button type="submit" disabled={Boolean(editor ?? locked)} title={editor ?? locked ?? undefined}>
              Save draft
            </button>
            {(editor ?? locked) && <span className="hint disabled-reason">{editor ?? locked}</span>}
          </div>
          <RefusalView refusal={refusals.save ?? null} />
        </form>
        <div className="row wrap">
          <button type="button" disabled={Boolean(editor ?? locked)} title={editor ?? locked ?? undefined} onClick={() => void act('lock', async () => (await api.mutate(ConsoleLockArtifactDocument, { id: a.id })).lockArtifact)}>
            Lock
          </button>
          <button type="button" onClick={() => void act('clone', async () => (await api.mutate(ConsoleCloneArtifactDocument, { input: { id: a.id } })).cloneArtifact)}>
            Clone as draft
          </button>
          <button
            type="button"
            className="danger"
            disabled={Boolean(owner)}
            title={owner ?? undefined}
            onClick={() => void act('delete', async () => (await api.mutate(ConsoleDeleteArtifactDocument, { id: a.id })).deleteArtifact)}
          >
            Delete
          </button>
          <button type="button" onClick={() => navigate('artifacts', a.repositoryId)}>
            Versions
          </button>
        </div>
        {(['lock', 'clone', 'delete'] as const).map((k) => (
          <RefusalView key={k} refusal={refusals[k] ?? null} />
        ))}
      </Section>
      <ArtifactSharing artifact={a} />
    </>
  );
}

function ArtifactSharing({ artifact: a }: { artifact: ArtifactRowFragment }) {
  const api = useApi();
  const [roles, setRoles] = useState<{ subjectType: SubjectType; subjectId: string; role: SharingRole }[] | null>(null);
  const load = useCallback(async () => {
    const { artifact } = await api.query(ConsoleArtifactDocument, { id: a.id });
    if (artifact.__typename === 'Artifact') setRoles(artifact.sharedRoles);
  }, [api, a.id]);
  useEffect(() => {
    void load();
  }, [load]);
  if (!roles) return null;
  return <SharingEditor kind="artifact" id={a.id} viewerRole={a.viewerRole} roles={roles} onSaved={() => void load()} />;
}

/** The spec as queried carries no __typename (none is selected); this guards pasted JSON from the API. */
function stripTypename(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripTypename);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => k !== '__typename').map(([k, v]) => [k, stripTypename(v)]));
  }
  return value;
}
