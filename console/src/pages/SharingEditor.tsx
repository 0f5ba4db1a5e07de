import { useEffect, useState } from 'react';
import { ApiError } from '../api';
import { RefusalView, roleRefusal, Section } from '../components';
import {
  ConsoleUpdateArtifactSharedRolesDocument,
  ConsoleUpdateWorkloadSharedRolesDocument,
  type RefusalFragment,
  type SharingRole,
  type SubjectType,
} from '../gql/graphql';
import { useApi } from '../hooks';

interface Grant {
  subjectType: SubjectType;
  subjectId: string;
  role: SharingRole;
}

const ROLES: SharingRole[] = ['OBSERVER', 'EDITOR', 'OWNER'];
const SUBJECT_TYPES: SubjectType[] = ['USER', 'GROUP', 'ORGANIZATION', 'ROLE'];

/** Who holds which role on a workload or artifact; only an OWNER may change it. */
export function SharingEditor(props: { kind: 'workload' | 'artifact'; id: string; viewerRole: SharingRole; roles: Grant[]; onSaved: () => void }) {
  const api = useApi();
  const [grants, setGrants] = useState<Grant[]>(props.roles);
  const [refusal, setRefusal] = useState<RefusalFragment | { __typename: 'TransportError'; message: string } | null>(null);
  const [saved, setSaved] = useState(false);
  // Edits not yet saved are kept when the page receives the workload again (every live update
  // does, whatever changed): the stored grants replace the form only while nothing is being
  // edited, and once a save's grants are what the page receives.
  const [editing, setEditing] = useState(false);
  const [savedGrants, setSavedGrants] = useState<string | null>(null);
  const reason = roleRefusal(props.viewerRole, 'OWNER');
  const stored = grantsKey(props.roles);
  useEffect(() => {
    if (savedGrants === stored) {
      setSavedGrants(null);
      setEditing(false);
    }
    if (!editing || savedGrants === stored) setGrants(props.roles);
  }, [stored, savedGrants]); // props.roles by value: a new array holding the same grants changes nothing

  const edit = (change: (g: Grant[]) => Grant[]) => {
    setEditing(true);
    setSavedGrants(null);
    setSaved(false);
    setGrants(change);
  };
  const update = (i: number, change: Partial<Grant>) => edit((g) => g.map((x, n) => (n === i ? { ...x, ...change } : x)));
  const save = async () => {
    setRefusal(null);
    setSaved(false);
    const input = { id: props.id, roles: grants.map(({ subjectType, subjectId, role }) => ({ subjectType, subjectId, role })) };
    try {
      const data =
        props.kind === 'workload'
          ? (await api.mutate(ConsoleUpdateWorkloadSharedRolesDocument, { input })).updateWorkloadSharedRoles
          : (await api.mutate(ConsoleUpdateArtifactSharedRolesDocument, { input })).updateArtifactSharedRoles;
      if ('code' in data) setRefusal(data);
      else {
        setSaved(true);
        setSavedGrants(grantsKey(grants));
        props.onSaved();
      }
    } catch (e) {
      setRefusal({ __typename: 'TransportError', message: e instanceof ApiError ? e.message : String(e) });
    }
  };

  return (
    <Section title="Sharing">
      <p>
        Your role: <strong data-testid="sharing-viewer-role">{props.viewerRole}</strong>
        {reason && <span className="hint disabled-reason"> · changing who has access {reason}</span>}
      </p>
      <table className="sharing">
        <tbody>
          {grants.map((g, i) => (
            <tr key={i}>
              <td>
                <select aria-label="Subject type" disabled={Boolean(reason)} value={g.subjectType} onChange={(e) => update(i, { subjectType: e.target.value as SubjectType })}>
                  {SUBJECT_TYPES.map((t) => (
                    <option key={t}>{t}</option>
                  ))}
                </select>
              </td>
              <td>
                <input aria-label="Subject" disabled={Boolean(reason)} value={g.subjectId} onChange={(e) => update(i, { subjectId: e.target.value })} />
              </td>
              <td>
                <select aria-label="Role" disabled={Boolean(reason)} value={g.role} onChange={(e) => update(i, { role: e.target.value as SharingRole })}>
                  {ROLES.map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              </td>
              <td>
                <button type="button" className="small" disabled={Boolean(reason)} onClick={() => edit((all) => all.filter((_, n) => n !== i))}>
                  remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row">
        <button type="button" disabled={Boolean(reason)} title={reason ?? undefined} onClick={() => edit((g) => [...g, { subjectType: 'USER', subjectId: '', role: 'OBSERVER' }])}>
          Add
        </button>
        <button type="button" data-action="save-sharing" disabled={Boolean(reason)} title={reason ?? undefined} onClick={() => void save()}>
          Save sharing
        </button>
        {saved && <span className="hint">saved</span>}
      </div>
      <RefusalView refusal={refusal} />
    </Section>
  );
}

/** A list of grants by value, whatever its order. */
function grantsKey(grants: readonly Grant[]): string {
  return JSON.stringify(grants.map(({ subjectType, subjectId, role }) => `${subjectType}\u0000${subjectId}\u0000${role}`).sort());
}
