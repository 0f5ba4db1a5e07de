import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/** What a dashboard's list shows, with the caller's roles and the protons' statistics. */
const LIST = `query List($first: Int!, $stats: Boolean!) {
  workloads(first: $first) {
    totalCount
    edges { node {
      id name status viewerRole
      artifact { id name status version viewerRole }
      protons { id role status createdAt artifact { id name viewerRole } statistics @include(if: $stats) { requestCount } }
    } }
  }
}`;

/** The same fields of one workload, read alone: its roles come from the role loaders, not from a page. */
const ONE = `query One($id: ID!) {
  workload(id: $id) { ... on Workload {
    id name status viewerRole
    artifact { id name status version viewerRole }
    protons { id role status createdAt artifact { id name viewerRole } statistics { requestCount } }
  } }
}`;

/** Every field a list row can show from the page's rows (and the replicas, live from the runtime), read alone and on a page. */
const FIELDS = `id name description status statusReason statusMessage importance endpoint expiresAt createdAt updatedAt promotedAt viewerRole
  runtime { replicaCount containerResources { containerName cpu memory } }
  artifact { id name description status version repositoryId createdAt updatedAt lockedAt deletedAt viewerRole spec { containerGroups { name } } }
  protons { id role status statusReason statusMessage createdAt updatedAt runtime { replicaCount } artifact { id name createdAt viewerRole } replicas { name status } }`;
const FULL_LIST = `query FullList($first: Int!) { workloads(first: $first) { edges { node { ${FIELDS} } } } }`;
const FULL_ONE = `query FullOne($id: ID!) { workload(id: $id) { ... on Workload { ${FIELDS} } } }`;

type Node = { id: string; viewerRole: string; artifact: { viewerRole: string }; protons: { id: string; artifact: { id: string; viewerRole: string } }[] };

describeEachDatabase('list statements', (backend) => {
  let t: TestApp;
  const bob = { sub: 'bob', groups: ['team-b'] };
  beforeAll(async () => {
    // The page of 30 asks for every proton's statistics, which the complexity limit weighs as full
    // windows (3 possible protons a workload, ADR 0061 decision 9): this suite counts statements, not cost.
    t = await startTestApp(backend, { GRAPHQL_MAX_COMPLEXITY: '1000000' });
    for (let i = 0; i < 30; i++) {
      const r = await t.execRaw(`mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { __typename } }`, {
        input: workloadInput({ name: `w${i}`, artifact: artifactInput({ name: `a${i}` }) }),
      });
      expect(r.errors).toBeUndefined();
    }
    // Protons and grants written directly: every workload has its active proton from its create; a few a candidate on
    // another artifact (a replacement in progress); bob sees some workloads through his group,
    // one artifact through a grant of its own, and has request statistics to read.
    const sql = t.app.orm.em.fork().getConnection();
    const rows = await sql.execute<{ id: string; artifact_id: string }[]>('select id, artifact_id from workload order by name');
    const other = rows[rows.length - 1]!.artifact_id;
    for (const [i, row] of rows.entries()) {
      if (i % 5 === 0) {
        await sql.execute(
          `insert into proton (id, workload_id, artifact_id, role, runtime, created_at, updated_at)
           values (gen_random_uuid(), ?, ?, 'candidate', '{"replicaCount":1}'::jsonb, now(), now())`,
          [row.id, other],
        );
      }
      if (i % 2 === 0) {
        await sql.execute(
          `insert into workload_shared_role (id, workload_id, subject_type, subject_id, role, granted_by, granted_at)
           values (gen_random_uuid(), ?, 'group', 'team-b', ?, 'developer', now())`,
          [row.id, i % 4 === 0 ? 'EDITOR' : 'OBSERVER'],
        );
      }
    }
    await sql.execute(
      `insert into artifact_shared_role (id, artifact_id, subject_type, subject_id, role, granted_by, granted_at)
       values (gen_random_uuid(), ?, 'user', 'bob', 'EDITOR', 'developer', now())`,
      [rows[0]!.artifact_id],
    );
    await sql.execute(
      `insert into proton_request_statistics (proton_id, workload_id, since, bucket_start, request_count, client_error_count,
         server_error_count, latency_sum_ms, latency_max_ms, latency_histogram, peak_concurrency, last_request_at)
       select p.id, p.workload_id, '-infinity', date_trunc('minute', now()), 3, 0, 0, 30, 12, '{}', 1, now() from proton p`,
    );
  });
  afterAll(() => t?.stop());

  async function statements(caller: ReturnType<TestApp['as']>, first: number, stats: boolean) {
    t.queries.length = 0;
    const result = await caller.execRaw(LIST, { first, stats });
    expect(JSON.stringify(result.errors)).toBeUndefined();
    const list = (result.data as { workloads: { edges: { node: Node }[] } }).workloads.edges.map((e) => e.node);
    return { count: t.queries.length, list };
  }

  it('reads a page with its total, artifacts, protons and roles in one statement, whatever its size', async () => {
    const owner = t.as({ sub: 'developer' });
    const small = await statements(owner, 2, false);
    const large = await statements(owner, 30, false);
    expect(large.list).toHaveLength(30);
    expect(large.list.flatMap((w) => w.protons)).toHaveLength(36);
    expect(small.count).toBe(1);
    expect(large.count).toBe(1);
  });

  it('leaves the artifacts and protons out of a page that asks for neither, and reads them with the page when anything below asks', async () => {
    const page = (query: string) => pageAs(t.as({ sub: 'developer' }), query);
    const pageAs = async (caller: ReturnType<TestApp['as']>, query: string) => {
      t.queries.length = 0;
      const r = await caller.execRaw(query);
      expect(JSON.stringify(r.errors)).toBeUndefined();
      expect(t.queries).toHaveLength(1);
      return { data: r.data as { workloads: { edges: { node: Record<string, unknown> }[] } }, sql: t.queries[0]! };
    };
    const readsRelations = (sql: string) => sql.includes('from artifact a where') || sql.includes('from proton p where');
    const statuses = await page(`{ workloads(first: 30) { totalCount edges { node { id name status viewerRole } } } }`);
    expect(readsRelations(statuses.sql)).toBe(false);
    expect(statuses.data.workloads.edges).toHaveLength(30);
    // The same rows and roles as a page that reads everything.
    const full = await page(`{ workloads(first: 30) { edges { node { id name status viewerRole artifact { id } } } } }`);
    expect(readsRelations(full.sql)).toBe(true);
    expect(statuses.data.workloads.edges.map((e) => e.node)).toEqual(full.data.workloads.edges.map(({ node: { artifact: _, ...rest } }) => rest));
    // Asked for at any depth, through fragments and inline fragments: read with the page.
    const viaFragment = await page(`{ workloads(first: 3) { edges { ...Row } } } fragment Row on WorkloadEdge { node { ... on Workload { protons { id } } } }`);
    expect(readsRelations(viaFragment.sql)).toBe(true);
    expect(viaFragment.data.workloads.edges.every((e) => (e.node.protons as unknown[]).length >= 1)).toBe(true);
    // A shared caller: only what it may see, with the same roles either way.
    const sharedStatuses = await pageAs(t.as(bob), `{ workloads(first: 30) { edges { node { id name viewerRole } } } }`);
    const sharedFull = await pageAs(t.as(bob), `{ workloads(first: 30) { edges { node { id name viewerRole artifact { viewerRole } } } } }`);
    expect(readsRelations(sharedStatuses.sql)).toBe(false);
    expect(sharedStatuses.data.workloads.edges).toHaveLength(15);
    expect(sharedStatuses.data.workloads.edges.map((e) => e.node)).toEqual(sharedFull.data.workloads.edges.map(({ node: { artifact: _, ...rest } }) => rest));
  });

  it("leaves the artifacts' specs out of a page whose operation names no spec, and reads them with the page when it names one anywhere", async () => {
    const owner = t.as({ sub: 'developer' });
    const page = async (query: string, variables?: Record<string, unknown>) => {
      t.queries.length = 0;
      const r = await owner.execRaw(query, variables);
      expect(JSON.stringify(r.errors)).toBeUndefined();
      return { data: r.data as { workloads: { edges: { node: { artifact: { id: string; spec?: unknown }; protons: { artifact: { id: string; spec?: unknown } }[] } }[] }; artifact?: { spec: unknown } }, queries: [...t.queries] };
    };
    // The artifacts' columns are named: the workload's artifact `a`, a proton's `pa`.
    const readsSpecs = (sql: string) => /\ba\.spec\b/.test(sql) && /\bpa\.spec\b/.test(sql);
    const leavesSpecsOut = (sql: string) => /\ba\.name\b/.test(sql) && /\bpa\.name\b/.test(sql) && !/\b(a|pa)\.spec\b/.test(sql);
    const names = await page(`{ workloads(first: 30) { edges { node { artifact { id name } protons { artifact { id name } } } } } }`);
    expect(names.queries).toHaveLength(1);
    expect(leavesSpecsOut(names.queries[0]!)).toBe(true);
    expect(readsSpecs(names.queries[0]!)).toBe(false);
    // Named on the list's artifacts, on a proton's, in a fragment: read with the page, one statement.
    const specs = [
      `{ workloads(first: 30) { edges { node { artifact { id spec { containerGroups { name } } } protons { artifact { id } } } } } }`,
      `{ workloads(first: 30) { edges { node { artifact { id } protons { artifact { id spec { containerGroups { name } } } } } } } }`,
      `{ workloads(first: 30) { edges { node { artifact { id ...Spec } protons { artifact { id } } } } } } fragment Spec on Artifact { spec { containerGroups { name } } }`,
    ];
    for (const query of specs) {
      const withSpecs = await page(query);
      expect(withSpecs.queries).toHaveLength(1);
      expect(readsSpecs(withSpecs.queries[0]!)).toBe(true);
      expect(leavesSpecsOut(withSpecs.queries[0]!)).toBe(false);
      const shown = withSpecs.data.workloads.edges.flatMap(({ node }) => [node.artifact, ...node.protons.map((p) => p.artifact)]).filter((a) => a.spec);
      expect(shown.length).toBeGreaterThanOrEqual(30);
      for (const a of shown) expect(a.spec).toEqual({ containerGroups: [{ name: 'default' }] });
    }
    // An artifact read beside the list shares the request's loader with the page's artifacts: its spec is answered.
    const first = names.data.workloads.edges[0]!.node.artifact.id;
    const beside = await page(`query($id: ID!) { workloads(first: 30) { edges { node { artifact { id name } } } } artifact(id: $id) { ... on Artifact { spec { containerGroups { name } } } } }`, { id: first });
    expect(beside.data.artifact).toEqual({ spec: { containerGroups: [{ name: 'default' }] } });
    expect(readsSpecs(beside.queries.find((q) => q.includes('as viewer_grants'))!)).toBe(true);
  });

  it('reads the protons\' statistics in one more statement for the whole page', async () => {
    const owner = t.as({ sub: 'developer' });
    expect((await statements(owner, 2, true)).count).toBe(2);
    expect((await statements(owner, 30, true)).count).toBe(2);
  });

  it('counts every match whatever the page: after a cursor, past the end, narrowed by a filter', async () => {
    const owner = t.as({ sub: 'developer' });
    const PAGE = `query Page($first: Int!, $after: String, $search: String) {
      workloads(first: $first, after: $after, filter: { search: $search }) { totalCount pageInfo { endCursor } edges { node { id } } }
    }`;
    type Page = { workloads: { totalCount: number; pageInfo: { endCursor: string | null }; edges: unknown[] } };
    const read = async (variables: Record<string, unknown>) => {
      t.queries.length = 0;
      const r = await owner.execRaw(PAGE, variables);
      expect(r.errors).toBeUndefined();
      return { ...(r.data as Page).workloads, statements: t.queries.length };
    };
    const first = await read({ first: 25 });
    expect(first).toMatchObject({ totalCount: 30, statements: 1 });
    const rest = await read({ first: 25, after: first.pageInfo.endCursor });
    expect(rest).toMatchObject({ totalCount: 30, statements: 1 });
    expect(rest.edges).toHaveLength(5);
    // Past the end no row carries the total: it is counted apart.
    const past = await read({ first: 25, after: rest.pageInfo.endCursor });
    expect(past).toMatchObject({ totalCount: 30, edges: [], statements: 2 });
    // w1, w10..w19: 11 names contain "w1".
    expect(await read({ first: 5, search: 'w1' })).toMatchObject({ totalCount: 11, statements: 1 });
    // Through a fragment too.
    t.queries.length = 0;
    const viaFragment = await owner.execRaw(`query { workloads(first: 3) { ...Total edges { node { id } } } } fragment Total on WorkloadConnection { totalCount }`);
    expect(viaFragment.data).toMatchObject({ workloads: { totalCount: 30 } });
    expect(t.queries).toHaveLength(1);
  });

  it('shows a shared caller only what it may see, with the roles the role loaders give one workload at a time', async () => {
    const shared = t.as(bob);
    const page = await statements(shared, 30, true);
    expect(page.count).toBe(2);
    expect(page.list).toHaveLength(15);
    expect(new Set(page.list.map((w) => w.viewerRole))).toEqual(new Set(['EDITOR', 'OBSERVER']));
    // The artifact bob holds a grant on shows that grant; every other one OBSERVER (through the workload).
    expect(page.list.filter((w) => w.artifact.viewerRole === 'EDITOR')).toHaveLength(1);
    for (const w of page.list) {
      const one = await shared.execRaw(ONE, { id: w.id });
      expect(one.errors).toBeUndefined();
      expect(w).toEqual((one.data as { workload: Node }).workload);
    }
  });

  it('shows every field of a page\'s rows as the workload read alone shows it, replicas included, in one statement', async () => {
    const owner = t.as({ sub: 'developer' });
    await t.app.orm.em.fork().getConnection().execute(
      `update workload set status_reason = 'Pending', status_message = 'waiting', promoted_at = now(),
         lifecycle = '{"state":{}}'::jsonb where name in ('w1', 'w2')`,
    );
    t.queries.length = 0;
    const page = await owner.execRaw(FULL_LIST, { first: 30 });
    expect(JSON.stringify(page.errors)).toBeUndefined();
    expect(t.queries).toHaveLength(1);
    const nodes = (page.data as { workloads: { edges: { node: { id: string; promotedAt: string | null } }[] } }).workloads.edges.map((e) => e.node);
    expect(nodes).toHaveLength(30);
    expect(nodes.filter((n) => n.promotedAt !== null)).toHaveLength(2);
    for (const node of nodes) {
      const one = await owner.execRaw(FULL_ONE, { id: node.id });
      expect(one.errors).toBeUndefined();
      expect(node).toEqual((one.data as { workload: unknown }).workload);
    }
  });

  it('reads of each row only the columns the operation reads: the order\'s, the scopes\' and each selected field\'s, anywhere in it', async () => {
    const owner = t.as({ sub: 'developer' });
    const page = async (query: string, variables?: Record<string, unknown>) => {
      t.queries.length = 0;
      const r = await owner.execRaw(query, variables);
      expect(JSON.stringify(r.errors)).toBeUndefined();
      return { data: r.data as { workloads: { pageInfo?: { endCursor: string }; edges: { node: Record<string, unknown> }[] } }, sql: t.queries.find((q) => q.includes('as viewer_grants'))! };
    };
    // The select lists: the workloads', the artifacts' (`a`, `pa`) and the protons' (their columns only, not their order).
    const lists = (sql: string) => [/select ((?:w\.\w+, )*w\.\w+)/, /\(select ((?:a\.\w+, )*a\.\w+)\) r\)/, /\(select ((?:p\.\w+, )*p\.\w+),\s*case when/]
      .map((pattern) => pattern.exec(sql)?.[1] ?? '').join(', ').split(', ');
    const reads = (sql: string, column: string) => lists(sql).includes(column);
    const names = await page(`{ workloads(first: 30) { edges { node { id name artifact { id name } protons { id status } } } } }`);
    expect(names.data.workloads.edges).toHaveLength(30);
    for (const column of ['w.id', 'w.name', 'w.created_at', 'a.id', 'a.name', 'p.id', 'p.status', 'p.role', 'p.workload_id']) expect(reads(names.sql, column), column).toBe(true);
    for (const column of ['w.runtime', 'w.lifecycle', 'w.description', 'w.status_message', 'w.updated_at', 'a.description', 'a.created_at', 'a.spec', 'p.runtime', 'p.status_message', 'p.created_at', 'p.artifact_id']) {
      expect(reads(names.sql, column), column).toBe(false);
    }
    // Selected anywhere in the operation (another field, a fragment, a node read beside the list):
    // the page's rows prime the request's loaders, so they carry what any field of the type reads.
    const first = names.data.workloads.edges[0]!.node;
    const elsewhere = [
      [`{ workloads(first: 3) { edges { node { id runtime { replicaCount } } } } }`, 'w.runtime'],
      [`{ workloads(first: 3) { edges { node { id protons { replicas { name } } } } } }`, 'w.lifecycle'],
      [`{ workloads(first: 3) { edges { node { id ...D } } } } fragment D on Workload { description }`, 'w.description'],
      [`query($id: ID!) { workloads(first: 3) { edges { node { id artifact { id } } } } node(id: $id) { ... on Workload { artifact { createdAt } } } }`, 'a.created_at'],
      [`{ workloads(first: 3) { edges { node { id protons { id artifact { id } } } } } }`, 'p.artifact_id'],
    ] as const;
    for (const [query, column] of elsewhere) expect(reads((await page(query, { id: first.id })).sql, column), query).toBe(true);
    // Ordered by another column: that column is read (the cursors), and the pages follow on.
    const byUpdate = `query($after: String) { workloads(first: 20, after: $after, orderBy: { field: UPDATED_AT, direction: ASC }) { pageInfo { endCursor } edges { node { id } } } }`;
    const one = await page(byUpdate);
    expect(reads(one.sql, 'w.updated_at')).toBe(true);
    expect(reads(one.sql, 'w.name')).toBe(false);
    const two = await page(byUpdate, { after: one.data.workloads.pageInfo!.endCursor });
    expect(new Set([...one.data.workloads.edges, ...two.data.workloads.edges].map((e) => e.node.id)).size).toBe(30);
  });

  it('reads one workload with its artifact, protons, roles, replacements and grants in one statement: one moment, as its page shows it', async () => {
    // Replacements written directly (onto the workload's own artifact, which the claim trigger
    // allows): two finished ones on every third workload, and one in progress on w0.
    const sql = t.app.orm.em.fork().getConnection();
    const rows = await sql.execute<{ id: string; name: string; artifact_id: string }[]>(`select id, name, artifact_id from workload where name ~ '^w[0-9]+$' order by name`);
    for (const row of rows) {
      const i = Number(row.name.slice(1));
      if (i % 3 !== 0) continue;
      for (const [age, status] of [[3, 'completed'], [2, 'cancelled'], ...(i === 0 ? [[1, 'warming']] : [])] as const) {
        await sql.execute(
          `insert into replacement (id, workload_id, from_artifact_id, to_artifact_id, status, created_at, updated_at)
           values (gen_random_uuid(), ?, ?, ?, ?, now() - make_interval(mins => ?), now())`,
          [row.id, row.artifact_id, row.artifact_id, status, age],
        );
      }
    }
    const DETAIL = `id name status viewerRole artifact { id name viewerRole } protons { id role status artifact { id viewerRole } }
      replacement { id status createdAt fromArtifact { id } toArtifact { id } } history { kind at replacement { id status } artifact { id } }
      sharedRoles { subjectType subjectId role grantedBy }`;
    const owner = t.as({ sub: 'developer' });
    t.queries.length = 0;
    const page = await owner.execRaw(`{ workloads(first: 30) { edges { node { ${DETAIL} } } } }`);
    expect(JSON.stringify(page.errors)).toBeUndefined();
    // The page's replacements and grants come with it (one statement, not more per workload).
    expect(t.queries).toHaveLength(1);
    type Detail = { id: string; name: string; replacement: { status: string } | null; history: { replacement: { status: string } | null }[] };
    const nodes = (page.data as { workloads: { edges: { node: Detail }[] } }).workloads.edges.map((e) => e.node);
    const w0 = nodes.find((n) => n.name === 'w0')!;
    expect(w0.replacement).toMatchObject({ status: 'WARMING' });
    expect(w0.history.map((h) => h.replacement?.status)).toEqual(['WARMING', 'CANCELLED', 'COMPLETED']);
    expect(nodes.find((n) => n.name === 'w3')!.replacement).toMatchObject({ status: 'CANCELLED' });
    expect(nodes.find((n) => n.name === 'w1')!.replacement).toBeNull();
    const grants = (name: string) => (nodes.find((n) => n.name === name) as unknown as { sharedRoles: { subjectType: string; subjectId: string; role: string }[] }).sharedRoles;
    expect(grants('w1').map((g) => [g.subjectType, g.subjectId, g.role])).toEqual([['USER', 'developer', 'OWNER']]);
    expect(grants('w0').map((g) => [g.subjectType, g.subjectId, g.role])).toEqual([['USER', 'developer', 'OWNER'], ['GROUP', 'team-b', 'EDITOR']]);
    for (const caller of [owner, t.as(bob)]) {
      const own = await caller.execRaw(`{ workloads(first: 30) { edges { node { ${DETAIL} } } } }`);
      expect(JSON.stringify(own.errors)).toBeUndefined();
      const visible = (own.data as { workloads: { edges: { node: Detail }[] } }).workloads.edges.map((e) => e.node);
      expect(visible).toHaveLength(caller === owner ? 30 : 15);
      for (const node of visible.slice(0, 12)) {
        t.queries.length = 0;
        const one = await caller.execRaw(`query($id: ID!) { workload(id: $id) { __typename ... on Workload { ${DETAIL} } } }`, { id: node.id });
        expect(JSON.stringify(one.errors)).toBeUndefined();
        // The workload, its artifact, protons, roles, replacements and grants: one statement, so one moment.
        expect(t.queries).toHaveLength(1);
        expect((one.data as { workload: unknown }).workload).toEqual({ __typename: 'Workload', ...node });
      }
    }
    // Not visible to a stranger, and no such workload: NOT_FOUND, from the same single statement.
    for (const [caller, id] of [[t.as({ sub: 'carol', org: 'other' }), w0.id], [owner, Buffer.from('Workload:not-a-uuid').toString('base64')]] as const) {
      t.queries.length = 0;
      const missing = await caller.execRaw(`query($id: ID!) { workload(id: $id) { __typename } }`, { id });
      expect(missing.data).toEqual({ workload: { __typename: 'NotFoundError' } });
      expect(t.queries).toHaveLength(1);
    }
  });

  it('narrows a page by status, importance, artifact status, artifact and search, alone and together', async () => {
    const owner = t.as({ sub: 'developer' });
    const sql = t.app.orm.em.fork().getConnection();
    const rows = await sql.execute<{ id: string; name: string; artifact_id: string }[]>(`select id, name, artifact_id from workload where name ~ '^w[0-9]+$' order by name`);
    const index = (name: string) => Number(name.slice(1));
    await sql.execute(`update workload set status = 'running' where name ~ '^w[0-9]+$' and substr(name, 2)::int % 3 = 0`);
    await sql.execute(`update workload set importance = 'moderate' where name ~ '^w[0-9]+$' and substr(name, 2)::int % 4 = 0`);
    const locked = rows.filter((r) => index(r.name) % 5 === 1);
    for (const r of locked) await sql.execute(`update artifact set status = 'locked', version = 1, locked_at = now() where id = ?`, [r.artifact_id]);
    const names = async (filter: Record<string, unknown>) => {
      const r = await owner.execRaw(`query($filter: WorkloadFilter) { workloads(first: 100, filter: $filter) { totalCount edges { node { name } } } }`, { filter });
      expect(r.errors).toBeUndefined();
      const list = (r.data as { workloads: { totalCount: number; edges: { node: { name: string } }[] } }).workloads;
      expect(list.totalCount).toBe(list.edges.length);
      return list.edges.map((e) => e.node.name).sort();
    };
    const expected = (keep: (i: number) => boolean) => rows.map((r) => r.name).filter((n) => keep(index(n))).sort();
    expect(await names({ status: ['RUNNING'] })).toEqual(expected((i) => i % 3 === 0));
    expect(await names({ status: ['RUNNING', 'SUBMITTED'] })).toEqual(expected(() => true));
    expect(await names({ importance: ['MODERATE'] })).toEqual(expected((i) => i % 4 === 0));
    expect(await names({ artifactStatus: 'LOCKED' })).toEqual(expected((i) => i % 5 === 1));
    expect(await names({ status: ['RUNNING'], importance: ['MODERATE'], artifactStatus: 'DRAFT' })).toEqual(expected((i) => i % 12 === 0 && i % 5 !== 1));
    const one = rows[7]!;
    const artifactId = Buffer.from(`Artifact:${one.artifact_id}`).toString('base64');
    expect(await names({ artifactId })).toEqual([one.name]);
    expect(await names({ artifactId: Buffer.from('Artifact:not-a-uuid').toString('base64') })).toEqual([]);
    expect(await names({ search: 'W2' })).toEqual(expected((i) => String(i).startsWith('2')));
    // LIKE's wildcards in a search match themselves only.
    expect(await names({ search: '%' })).toEqual([]);
    expect(await names({ search: '_' })).toEqual([]);
    expect(await names({ search: 'w1', status: ['RUNNING'] })).toEqual(expected((i) => String(i).startsWith('1') && i % 3 === 0));
  });

  it('lists nothing for a caller without a role, in the same statements', async () => {
    const stranger = await statements(t.as({ sub: 'carol', org: 'other' }), 30, true);
    expect(stranger.list).toEqual([]);
    expect(stranger.count).toBeLessThanOrEqual(2);
  });
  it('answers each field of a row alone, on a page that reads only its columns, as the workload read whole shows it', async () => {
    const owner = t.as({ sub: 'developer' });
    const sql = t.app.orm.em.fork().getConnection();
    // Every column set somewhere: a promoted workload (its artifact locked), reasons and messages, a lifecycle.
    const [promoted] = await sql.execute<{ id: string }[]>(`select id from workload where name = 'w4'`);
    await sql.execute(`update artifact set status = 'locked', version = 1, locked_at = now() where id = (select artifact_id from workload where id = ?)`, [promoted!.id]);
    await sql.execute(`update workload set promoted_at = now() where id = ?`, [promoted!.id]);
    await sql.execute(`update workload set description = 'about ' || name, status_reason = 'Pending', status_message = 'waiting', lifecycle = '{"state":{}}'::jsonb where name in ('w1', 'w2', 'w4')`);
    await sql.execute(`update proton set status_reason = 'CrashLoopBackOff', status_message = 'back-off' where workload_id in (select id from workload where name in ('w1', 'w4'))`);
    await sql.execute(
      `insert into replacement (id, workload_id, from_artifact_id, to_artifact_id, status, created_at, updated_at)
       select gen_random_uuid(), id, artifact_id, artifact_id, 'completed', now(), now() from workload where name = 'w5'`,
    );
    const artifactFields = ['name', 'description', 'status', 'version', 'repositoryId', 'createdAt', 'updatedAt', 'lockedAt', 'deletedAt', 'viewerRole', 'spec { containerGroups { name } }', 'sharedRoles { subjectId role }'];
    const protonFields = ['role', 'status', 'statusReason', 'statusMessage', 'createdAt', 'updatedAt', 'runtime { replicaCount }', 'artifact { id name }', 'replicas { name status }', 'statistics { requestCount }'];
    const fields = [
      'name', 'description', 'status', 'statusReason', 'statusMessage', 'importance', 'endpoint', 'expiresAt', 'createdAt', 'updatedAt', 'promotedAt', 'viewerRole',
      'runtime { replicaCount containerResources { containerName cpu memory } }', 'replacement { id status }', 'history { kind artifact { id } }',
      'sharedRoles { subjectId role }', 'statistics { requestCount }', 'events(first: 2) { edges { node { sequence } } }',
      ...artifactFields.map((f) => `artifact { id ${f} }`),
      ...protonFields.map((f) => `protons { id ${f} }`),
    ];
    const ids = (await page(owner, `{ workloads(first: 30) { edges { node { id } } } }`)).map((n) => n.id as string);
    // What no row of this data shows: an artifact a workload runs is never deleted, and the test
    // runtime's protons have no pods.
    const nullEverywhere: string[] = [];
    for (const field of fields) {
      const nodes = await page(owner, `{ workloads(first: 30) { edges { node { id ${field} } } } }`);
      // The same workloads read one by one (a page of one, every column).
      const whole = await owner.execRaw(`{ ${ids.map((id, i) => `w${i}: workload(id: "${id}") { ... on Workload { id ${field} } }`).join(' ')} }`);
      expect(JSON.stringify(whole.errors)).toBeUndefined();
      expect(nodes, field).toEqual(ids.map((_, i) => (whole.data as Record<string, unknown>)[`w${i}`]));
      // Whether a value shows anything but ids.
      const shown = (value: unknown): boolean => (Array.isArray(value) ? value.some(shown) : value !== null && (typeof value !== 'object' || Object.entries(value).some(([k, v]) => k !== 'id' && shown(v))));
      if (!nodes.some(shown)) nullEverywhere.push(field);
    }
    expect(nullEverywhere).toEqual(['artifact { id deletedAt }', 'protons { id replicas { name status } }']);

    async function page(caller: ReturnType<TestApp['as']>, query: string) {
      const r = await caller.execRaw(query);
      expect(JSON.stringify(r.errors)).toBeUndefined();
      return (r.data as { workloads: { edges: { node: Record<string, unknown> }[] } }).workloads.edges.map((e) => e.node);
    }
  });
});
