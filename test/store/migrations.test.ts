import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrationsList } from '../../migrations/index.js';
import { openOrm, type Orm } from '../../src/store/orm.js';
import { createDatabase, describeEachDatabase } from '../support/backends.js';

it('lists every migration file in the migrator\'s explicit list, in order', async () => {
  const files = (await readdir(new URL('../../migrations/', import.meta.url)))
    .filter((f) => /^Migration\d+.*\.ts$/.test(f))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort();
  expect(migrationsList.map((m) => m.name)).toEqual(files);
});

describeEachDatabase('the database model', (backend) => {
  let orm: Orm;
  let drop: () => Promise<void>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- raw rows of ad-hoc SQL
  const sql = (query: string, params: unknown[] = []): Promise<any[]> => orm.em.fork().getConnection().execute(query, params);

  beforeAll(async () => {
    const db = await createDatabase(backend);
    drop = db.drop;
    orm = await openOrm(db.database);
  });
  afterAll(async () => {
    await orm?.close(true);
    await drop?.();
  });

  let seq = 0;
  async function artifact(status: 'draft' | 'locked' = 'draft'): Promise<{ id: string; repositoryId: string }> {
    seq += 1;
    const [repo] = await sql(
      `insert into artifact_repository (id, name, owner_id, created_at) values (gen_random_uuid(), 'r', 'u', now()) returning id`,
    );
    const [row] = await sql(
      `insert into artifact (id, repository_id, name, status, version, spec, owner_id, created_at, updated_at, locked_at)
       values (gen_random_uuid(), ?, ?, ?, ?, '{}'::jsonb, 'u', now(), now(), ?) returning id`,
      [repo.id, `a${seq}`, status, status === 'locked' ? 1 : null, status === 'locked' ? new Date() : null],
    );
    return { id: row.id, repositoryId: repo.id };
  }
  async function workload(artifactId: string, name = `w${++seq}`): Promise<string> {
    const [row] = await sql(
      `insert into workload (id, name, owner_id, artifact_id, artifact_status, runtime, created_at, updated_at)
       values (gen_random_uuid(), ?, 'u', ?, 'locked', '{}'::jsonb, now(), now()) returning id`,
      [name, artifactId],
    );
    return row.id;
  }

  it('records every applied migration, leaving none pending', async () => {
    expect(await orm.getMigrator().getPendingMigrations()).toEqual([]);
    const executed = await orm.getMigrator().getExecutedMigrations();
    expect(executed.map((m) => m.name)).toEqual(migrationsList.map((m) => m.name));
  });

  it('refuses a second live workload on one draft artifact, by the partial unique index', async () => {
    const a = await artifact('draft');
    await workload(a.id);
    await expect(workload(a.id)).rejects.toThrow(/workload_one_live_per_draft_artifact/);
  });

  it('allows a new workload on a draft artifact once the previous one is terminated', async () => {
    const a = await artifact('draft');
    const first = await workload(a.id);
    await sql(`update workload set status = 'terminated' where id = ?`, [first]);
    await expect(workload(a.id)).resolves.toBeTruthy();
  });

  it('allows many workloads on one locked artifact', async () => {
    const a = await artifact('locked');
    await workload(a.id);
    await workload(a.id);
    const [row] = await sql(`select count(*)::int as n from workload where artifact_id = ?`, [a.id]);
    expect(row.n).toBe(2);
  });

  it('mirrors the artifact status onto its workloads, whatever the writer claims', async () => {
    const a = await artifact('draft');
    const w = await workload(a.id); // the insert claims 'locked'
    const [row] = await sql(`select artifact_status from workload where id = ?`, [w]);
    expect(row.artifact_status).toBe('draft');
    await sql(`update artifact set status = 'locked', version = 1, locked_at = now() where id = ?`, [a.id]);
    const [after] = await sql(`select artifact_status from workload where id = ?`, [w]);
    expect(after.artifact_status).toBe('locked');
  });

  it('never changes a locked artifact\'s name or spec, never unlocks it and never deletes it', async () => {
    const a = await artifact('locked');
    await expect(sql(`update artifact set name = 'other' where id = ?`, [a.id])).rejects.toThrow(/locked/);
    await expect(sql(`update artifact set spec = '{"x":1}'::jsonb where id = ?`, [a.id])).rejects.toThrow(/locked/);
    await expect(sql(`update artifact set status = 'draft', version = null, locked_at = null where id = ?`, [a.id])).rejects.toThrow(/locked/);
    await expect(sql(`update artifact set deleted_at = now() where id = ?`, [a.id])).rejects.toThrow(/locked/);
    await expect(sql(`delete from artifact where id = ?`, [a.id])).rejects.toThrow(/locked/);
    await expect(sql(`update artifact set description = 'still fine' where id = ?`, [a.id])).resolves.toBeDefined();
  });

  it('keeps versions unique within a repository', async () => {
    const a = await artifact('locked');
    await expect(
      sql(
        `insert into artifact (id, repository_id, name, status, version, spec, owner_id, created_at, updated_at, locked_at)
         values (gen_random_uuid(), ?, 'dup', 'locked', 1, '{}'::jsonb, 'u', now(), now(), now())`,
        [a.repositoryId],
      ),
    ).rejects.toThrow(/artifact_version_unique_per_repository/);
  });

  it('requires a version exactly when an artifact is locked', async () => {
    const a = await artifact('draft');
    await expect(sql(`update artifact set status = 'locked' where id = ?`, [a.id])).rejects.toThrow(/artifact_version_iff_locked/);
  });

  it('numbers events gap-free per workload and refuses to change or delete them', async () => {
    const a = await artifact('locked');
    const w = await workload(a.id);
    const other = await workload(a.id);
    const append = (id: string) =>
      sql(`insert into workload_event (workload_id, sequence, type, message, occurred_at) values (?, 0, 't', 'm', now()) returning sequence`, [id]);
    expect((await append(w))[0].sequence).toBe(1);
    expect((await append(other))[0].sequence).toBe(1);
    expect((await append(w))[0].sequence).toBe(2);
    // A rolled-back append gives its number back.
    await expect(
      orm.em.fork().transactional(async (em) => {
        await em.execute(`insert into workload_event (workload_id, sequence, type, message, occurred_at) values (?, 0, 't', 'm', now())`, [w]);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect((await append(w))[0].sequence).toBe(3);
    await expect(sql(`update workload_event set message = 'x' where workload_id = ?`, [w])).rejects.toThrow(/append-only/);
    await expect(sql(`delete from workload_event where workload_id = ?`, [w])).rejects.toThrow(/append-only/);
  });

  it('takes an event numbered by its writer only with a number its workload gave, right after one taken, once', async () => {
    const a = await artifact('locked');
    const w = await workload(a.id);
    const numbered = (id: string, ...sequences: number[]) =>
      sql(
        `insert into workload_event (workload_id, sequence, type, message, occurred_at)
         select ?, s, 't', 'm', now() from unnest(?::int[]) with ordinality as x(s, n) order by n returning sequence`,
        [id, `{${sequences.join(',')}}`],
      );
    const refused = /not the next number its workload gave/;
    // A new workload's row has given no number: none may be taken.
    await expect(numbered(w, 1)).rejects.toThrow(refused);
    await sql(`update workload set last_event_sequence = 1 where id = ?`, [w]);
    await expect(numbered(w, 2)).rejects.toThrow(refused);
    expect((await numbered(w, 1)).map((r) => r.sequence)).toEqual([1]);
    await expect(numbered(w, 1)).rejects.toThrow(/workload_event_pkey|duplicate key/);
    // Raised by three: three in order in one statement, each after the one before it.
    await sql(`update workload set last_event_sequence = last_event_sequence + 3 where id = ?`, [w]);
    await expect(numbered(w, 3, 4)).rejects.toThrow(refused);
    await expect(numbered(w, 2, 4)).rejects.toThrow(refused);
    expect((await numbered(w, 2, 3, 4)).map((r) => r.sequence)).toEqual([2, 3, 4]);
    expect((await sql(`insert into workload_event (workload_id, sequence, type, message, occurred_at) values (?, 0, 't', 'm', now()) returning sequence`, [w]))[0].sequence).toBe(5);
    expect((await sql(`select array_agg(sequence order by sequence) as s from workload_event where workload_id = ?`, [w]))[0].s).toEqual([1, 2, 3, 4, 5]);
    await expect(numbered('00000000-0000-4000-8000-0000000000e1', 1)).rejects.toThrow(refused);
  });

  it("numbers a round's events itself, raising the workload row's number in the one update it makes", async () => {
    const a = await artifact('locked');
    const w = await workload(a.id);
    const [row] = await sql(`select artifact_id, runtime from workload where id = ?`, [w]);
    const columns = (status: string) => ({
      lifecycle: { step: status }, desired_state: 'running', expires_at: null, status, status_reason: null, status_message: null,
      artifact_id: row.artifact_id, runtime: row.runtime, deleted_at: null,
    });
    const events = (...types: string[]) => JSON.stringify(types.map((type) => ({ type, message: type, data: {} })));
    // Within a transaction: what the round returns and how many workload rows it updated.
    const round = (lifecycle: string | null, expected: number, status: string, ...types: string[]) =>
      orm.em.fork().transactional(async (em) => {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- raw rows of ad-hoc SQL
        const run = (q: string, params: unknown[] = []): Promise<any[]> => em.getConnection().execute(q, params, 'all', em.getTransactionContext());
        // The backend's pending counts may hold earlier transactions' too: the difference is this round's.
        const [{ updated: before }] = await run(`select pg_stat_get_xact_tuples_updated('workload'::regclass)::int as updated`);
        const [{ sequence }] = await run(`select workload_record_round(?::uuid, ?::jsonb, ?, ?::jsonb, '[]'::jsonb, null::jsonb, ?::jsonb, now()) as sequence`, [
          w, lifecycle && JSON.stringify({ step: lifecycle }), expected, JSON.stringify(columns(status)), events(...types),
        ]);
        const [{ updated }] = await run(`select pg_stat_get_xact_tuples_updated('workload'::regclass)::int as updated`);
        return { sequence, updated: updated - before };
      });
    expect(await round(null, 0, 'provisioning', 'status', 'scaled', 'note')).toEqual({ sequence: 3, updated: 1 });
    // Events and nothing else: the number alone.
    expect(await round('provisioning', 3, 'provisioning', 'note', 'note')).toEqual({ sequence: 5, updated: 1 });
    // A stale round (its number is no longer the row's) writes nothing.
    expect(await round('provisioning', 3, 'running', 'status')).toEqual({ sequence: -1, updated: 0 });
    expect(await sql(`select sequence, type from workload_event where workload_id = ? order by sequence`, [w])).toEqual(
      ['status', 'scaled', 'note', 'note', 'note'].map((type, i) => ({ sequence: i + 1, type })),
    );
    expect((await sql(`select last_event_sequence, status from workload where id = ?`, [w]))[0]).toEqual({ last_event_sequence: 5, status: 'provisioning' });
  });

  it('refuses an event for a workload that does not exist', async () => {
    await expect(
      sql(`insert into workload_event (workload_id, sequence, type, message, occurred_at) values (gen_random_uuid(), 0, 't', 'm', now())`),
    ).rejects.toThrow(/does not exist/);
  });

  it('keeps at most one active and one candidate proton per workload', async () => {
    const a = await artifact('locked');
    const w = await workload(a.id);
    const proton = (role: string) =>
      sql(
        `insert into proton (id, workload_id, artifact_id, role, runtime, created_at, updated_at) values (gen_random_uuid(), ?, ?, ?, '{}'::jsonb, now(), now())`,
        [w, a.id, role],
      );
    await proton('active');
    await proton('candidate');
    await expect(proton('active')).rejects.toThrow(/proton_one_active_per_workload/);
    await expect(proton('candidate')).rejects.toThrow(/proton_one_candidate_per_workload/);
  });

  it('keeps at most one replacement in progress per workload', async () => {
    const a = await artifact('locked');
    const w = await workload(a.id);
    const replacement = (status: string) =>
      sql(
        `insert into replacement (id, workload_id, from_artifact_id, to_artifact_id, status, created_at, updated_at) values (gen_random_uuid(), ?, ?, ?, ?, now(), now())`,
        [w, a.id, a.id, status],
      );
    await replacement('completed');
    await replacement('warming');
    await expect(replacement('submitted')).rejects.toThrow(/replacement_one_in_progress_per_workload/);
  });
});
