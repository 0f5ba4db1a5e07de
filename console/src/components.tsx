import { useState, type ReactNode } from 'react';
import type { RefusalFragment } from './gql/graphql';
import { useConnection } from './hooks';

const STATUS_TONE: Record<string, string> = {
  RUNNING: 'ok',
  COMPLETED: 'ok',
  SUBMITTED: 'busy',
  PROVISIONING: 'busy',
  LAUNCHING: 'busy',
  INITIALIZING: 'busy',
  WARMING: 'busy',
  SWITCHING: 'busy',
  DRAINING: 'busy',
  RESTARTING: 'busy',
  STOPPING: 'busy',
  STOPPED: 'idle',
  SUSPENDED: 'idle',
  TERMINATED: 'idle',
  CANCELLED: 'idle',
  ERRORED: 'bad',
  INTERRUPTED: 'bad',
  UNKNOWN: 'bad',
};

export function StatusBadge({ status, title }: { status: string; title?: string | null }) {
  return (
    <span className={`badge tone-${STATUS_TONE[status] ?? 'idle'}`} data-status={status} title={title ?? undefined}>
      {status}
    </span>
  );
}

/** A typed refusal of the API (ValidationError, ForbiddenError, ...), shown where the action is. */
export function RefusalView({ refusal }: { refusal: RefusalFragment | { __typename: 'TransportError'; code?: string; message: string } | null }) {
  if (!refusal) return null;
  return (
    <div className="refusal" role="alert" data-typename={refusal.__typename}>
      <strong>{refusal.__typename}</strong> <code>{refusal.code}</code>: {refusal.message}
      {'issues' in refusal && refusal.issues && (
        <ul>
          {refusal.issues.map((i, n) => (
            <li key={n}>
              <code>{i.path.join('.')}</code>: {i.message}
            </li>
          ))}
        </ul>
      )}
      {'requiredRole' in refusal && (
        <div>
          needs <code>{refusal.requiredRole}</code>, you are <code>{refusal.viewerRole}</code>
        </div>
      )}
      {'reason' in refusal && (
        <div>
          state <code>{refusal.currentState}</code>, rule <code>{refusal.reason}</code>
        </div>
      )}
    </div>
  );
}

export function ConnectionIndicator() {
  const { connection } = useConnection();
  const label = { connected: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…' }[connection];
  return (
    <span className={`connection connection-${connection}`} data-connection={connection} title="The live connection to the API">
      ● {label}
    </span>
  );
}

export function CopyButton({ text }: { text: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="small"
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(() => {
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        });
      }}
    >
      {copied ? 'copied' : 'copy'}
    </button>
  );
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card">
      <header>
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}

const ROLE_RANK: Record<string, number> = { OBSERVER: 1, EDITOR: 2, OWNER: 3 };

/** Why the viewer's role does not allow an action needing `required`, or null when it does. */
export function roleRefusal(viewerRole: string, required: 'EDITOR' | 'OWNER'): string | null {
  return (ROLE_RANK[viewerRole] ?? 0) >= ROLE_RANK[required]! ? null : `needs ${required}; you are ${viewerRole}`;
}
