import type { EntityManager } from '@mikro-orm/postgresql';
import type { Artifact } from './entities/index.js';
import { queryRows } from './sql.js';

/**
 * Locks a draft inside the caller's transaction, assigning its repository's next version. The
 * counter lives on the repository row, so the update serializes concurrent locks.
 */
export async function lockArtifactIn(em: EntityManager, artifact: Artifact, now: Date): Promise<void> {
  if (artifact.status === 'locked') return;
  const rows = await queryRows<{ last_version: number }>(
    em,
    'update artifact_repository set last_version = last_version + 1 where id = ? returning last_version',
    [artifact.repository.id],
  );
  const version = rows[0]?.last_version;
  if (typeof version !== 'number') throw new Error(`artifact repository ${artifact.repository.id} vanished`);
  artifact.status = 'locked';
  artifact.version = version;
  artifact.lockedAt = now;
  artifact.updatedAt = now;
}
