import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArtifactAccessDocument,
  CloneArtifactDocument,
  CreateArtifactDocument,
  CreateWorkloadDocument,
  DeleteArtifactDocument,
  LockArtifactDocument,
  UpdateArtifactDocument,
  UpdateArtifactSharedRolesDocument,
  UpdateWorkloadDocument,
  UpdateWorkloadSharedRolesDocument,
  WorkloadAccessDocument,
  CancelReplacementDocument,
  DeleteWorkloadDocument,
  PromoteWorkloadDocument,
  ReplaceWorkloadArtifactDocument,
  RestartWorkloadDocument,
  StartWorkloadDocument,
  StopWorkloadDocument,
  UpdateWorkloadRuntimeDocument,
} from './generated/graphql.js';
import { describeEachDatabase } from '../support/backends.js';
import { artifactInput } from '../support/fixtures.js';
import { startTestApp, tokenFor, type TestApp, type TestCaller, type TestSubject } from '../support/test-app.js';

type Role = 'OWNER' | 'EDITOR' | 'OBSERVER';
const rank = { OBSERVER: 0, EDITOR: 1, OWNER: 2 } as const;

/** Every kind of caller, with the role the fixture's grants give it (null: none). */
const CALLERS: { name: string; who: () => Promise<TestSubject | string | null>; role: Role | null }[] = [
  { name: 'the owner', who: async () => ({ sub: 'owner' }), role: 'OWNER' },
  { name: 'an editor', who: async () => ({ sub: 'ed' }), role: 'EDITOR' },
  { name: 'an observer', who: async () => ({ sub: 'obs' }), role: 'OBSERVER' },
  { name: 'a stranger', who: async () => ({ sub: 'stranger', groups: ['other-team'], org: 'elsewhere', roles: ['viewer'] }), role: null },
  { name: 'a member of a granted group', who: async () => ({ sub: 'gm', groups: ['team-x'] }), role: 'EDITOR' },
  { name: 'a member of a granted organization', who: async () => ({ sub: 'om', org: 'acme' }), role: 'OBSERVER' },
  { name: 'a holder of a granted role', who: async () => ({ sub: 'rh', roles: ['auditor'] }), role: 'OBSERVER' },
  { name: 'a platform admin', who: async () => ({ sub: 'adm', roles: ['platform-admin'] }), role: 'OWNER' },
];

/** Callers that must be refused before anything runs. */
const UNAUTHENTICATED: { name: string; authorization: () => Promise<string | null> }[] = [
  { name: 'no credentials', authorization: async () => null },
  { name: 'an expired token', authorization: async () => `Bearer ${await tokenFor({ sub: 'owner' }, { expiresInSeconds: -60 })}` },
  { name: 'a token signed with the wrong key', authorization: async () => `Bearer ${await tokenFor({ sub: 'owner' }, { secret: 'another-secret-of-at-least-32-chars!!' })}` },
  { name: 'a token from another issuer', authorization: async () => `Bearer ${await tokenFor({ sub: 'owner' }, { issuer: 'someone-else' })}` },
  { name: 'a malformed token', authorization: async () => 'Bearer not.a.jwt' },
  { name: 'a scheme other than Bearer', authorization: async () => 'Basic b3duZXI6cGFzc3dvcmQ=' },
];

const GRANTS = [
  { subjectType: 'USER', subjectId: 'owner', role: 'OWNER' },
  { subjectType: 'USER', subjectId: 'ed', role: 'EDITOR' },
  { subjectType: 'USER', subjectId: 'obs', role: 'OBSERVER' },
  { subjectType: 'GROUP', subjectId: 'team-x', role: 'EDITOR' },
  { subjectType: 'ORGANIZATION', subjectId: 'acme', role: 'OBSERVER' },
  { subjectType: 'ROLE', subjectId: 'auditor', role: 'OBSERVER' },
] as const;

interface Fixture {
  tag: string;
  workloadId: string;
  /** The draft the workload runs. */
  runArtifactId: string;
  /** A draft of its own, shared like the workload, that no workload uses. */
  artifactId: string;
  /** Shares the workload's draft like the workload (promote locks it: it needs EDITOR on the draft too). */
  shareRunArtifact(): Promise<void>;
}

/** One operation of the table: the role it needs and how to try it. */
interface Operation {
  name: string;
  needs: Role;
  resource: 'Workload' | 'Artifact';
  run(caller: TestCaller, fx: Fixture): Promise<{ __typename: string }>;
}

const OPERATIONS: Operation[] = [
  {
    name: 'updateWorkload',
    needs: 'EDITOR',
    resource: 'Workload',
    run: async (c, fx) => (await c.exec(UpdateWorkloadDocument, { input: { id: fx.workloadId, description: 'changed', importance: 'HIGH' } })).updateWorkload,
  },
  {
    name: 'updateWorkloadSharedRoles',
    needs: 'OWNER',
    resource: 'Workload',
    run: async (c, fx) =>
      (await c.exec(UpdateWorkloadSharedRolesDocument, { input: { id: fx.workloadId, roles: [...GRANTS, { subjectType: 'USER', subjectId: 'new', role: 'OBSERVER' }] } }))
        .updateWorkloadSharedRoles,
  },
  {
    name: 'updateArtifact',
    needs: 'EDITOR',
    resource: 'Artifact',
    run: async (c, fx) => (await c.exec(UpdateArtifactDocument, { input: { id: fx.artifactId, description: 'changed' } })).updateArtifact,
  },
  {
    name: 'lockArtifact',
    needs: 'EDITOR',
    resource: 'Artifact',
    run: async (c, fx) => (await c.exec(LockArtifactDocument, { id: fx.artifactId })).lockArtifact,
  },
  {
    name: 'deleteArtifact',
    needs: 'OWNER',
    resource: 'Artifact',
    run: async (c, fx) => (await c.exec(DeleteArtifactDocument, { id: fx.artifactId })).deleteArtifact,
  },
  {
    name: 'updateArtifactSharedRoles',
    needs: 'OWNER',
    resource: 'Artifact',
    run: async (c, fx) =>
      (await c.exec(UpdateArtifactSharedRolesDocument, { input: { id: fx.artifactId, roles: [{ subjectType: 'USER', subjectId: 'owner', role: 'OWNER' }] } }))
        .updateArtifactSharedRoles,
  },
  {
    name: 'cloneArtifact',
    needs: 'OBSERVER',
    resource: 'Artifact',
    run: async (c, fx) => (await c.exec(CloneArtifactDocument, { input: { id: fx.artifactId, name: `${fx.tag}-clone` } })).cloneArtifact,
  },
  {
    // Running a draft takes its one live slot: EDITOR on the draft (a locked artifact needs OBSERVER).
    name: 'createWorkload on the artifact',
    needs: 'EDITOR',
    resource: 'Artifact',
    run: async (c, fx) => (await c.exec(CreateWorkloadDocument, { input: { name: `${fx.tag}-second`, artifactId: fx.artifactId } })).createWorkload,
  },
];

/** Lifecycle operations: past authorization they answer a payload or a lifecycle refusal, never a role error. */
const LIFECYCLE: Operation[] = [
  { name: 'startWorkload', needs: 'EDITOR', resource: 'Workload', run: async (c, fx) => (await c.exec(StartWorkloadDocument, { id: fx.workloadId })).startWorkload },
  { name: 'stopWorkload', needs: 'EDITOR', resource: 'Workload', run: async (c, fx) => (await c.exec(StopWorkloadDocument, { id: fx.workloadId })).stopWorkload },
  { name: 'restartWorkload', needs: 'EDITOR', resource: 'Workload', run: async (c, fx) => (await c.exec(RestartWorkloadDocument, { id: fx.workloadId })).restartWorkload },
  {
    name: 'updateWorkloadRuntime',
    needs: 'EDITOR',
    resource: 'Workload',
    run: async (c, fx) => (await c.exec(UpdateWorkloadRuntimeDocument, { input: { id: fx.workloadId, runtime: { replicaCount: 2 } } })).updateWorkloadRuntime,
  },
  {
    name: 'replaceWorkloadArtifact',
    needs: 'EDITOR',
    resource: 'Workload',
    run: async (c, fx) => (await c.exec(ReplaceWorkloadArtifactDocument, { input: { id: fx.workloadId, artifactId: fx.artifactId } })).replaceWorkloadArtifact,
  },
  { name: 'cancelReplacement', needs: 'EDITOR', resource: 'Workload', run: async (c, fx) => (await c.exec(CancelReplacementDocument, { id: fx.workloadId })).cancelReplacement },
  {
    name: 'promoteWorkload',
    needs: 'EDITOR',
    resource: 'Workload',
    run: async (c, fx) => {
      await fx.shareRunArtifact();
      return (await c.exec(PromoteWorkloadDocument, { id: fx.workloadId })).promoteWorkload;
    },
  },
  { name: 'deleteWorkload', needs: 'OWNER', resource: 'Workload', run: async (c, fx) => (await c.exec(DeleteWorkloadDocument, { id: fx.workloadId })).deleteWorkload },
];

const SUCCESS: Record<string, string> = {
  updateWorkload: 'UpdateWorkloadPayload',
  updateWorkloadSharedRoles: 'UpdateWorkloadSharedRolesPayload',
  updateArtifact: 'UpdateArtifactPayload',
  lockArtifact: 'LockArtifactPayload',
  deleteArtifact: 'DeleteArtifactPayload',
  updateArtifactSharedRoles: 'UpdateArtifactSharedRolesPayload',
  cloneArtifact: 'CloneArtifactPayload',
  'createWorkload on the artifact': 'CreateWorkloadPayload',
};

describeEachDatabase('who may do what', (backend) => {
  let t: TestApp;
  let owner: TestCaller;
  let n = 0;

  beforeAll(async () => {
    t = await startTestApp(backend);
    owner = t.as({ sub: 'owner' });
  });
  afterAll(() => t?.stop());

  async function fixture(): Promise<Fixture> {
    const tag = `acl${++n}x${Date.now()}`;
    const { createWorkload } = await owner.exec(CreateWorkloadDocument, {
      input: { name: `${tag}-w`, artifact: artifactInput({ name: `${tag}-run` }) as never },
    });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    const { createArtifact } = await owner.exec(CreateArtifactDocument, { input: artifactInput({ name: `${tag}-a` }) as never });
    if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(createArtifact.__typename);
    const runArtifactId = createWorkload.workload.artifact.id;
    const shareRunArtifact = async () => {
      const r = await owner.exec(UpdateArtifactSharedRolesDocument, { input: { id: runArtifactId, roles: [...GRANTS] } });
      if (r.updateArtifactSharedRoles.__typename !== 'UpdateArtifactSharedRolesPayload') throw new Error('could not share the run artifact');
    };
    const fx = { tag, workloadId: createWorkload.workload.id, runArtifactId, artifactId: createArtifact.artifact.id, shareRunArtifact };
    const w = await owner.exec(UpdateWorkloadSharedRolesDocument, { input: { id: fx.workloadId, roles: [...GRANTS] } });
    const a = await owner.exec(UpdateArtifactSharedRolesDocument, { input: { id: fx.artifactId, roles: [...GRANTS] } });
    if (w.updateWorkloadSharedRoles.__typename !== 'UpdateWorkloadSharedRolesPayload' || a.updateArtifactSharedRoles.__typename !== 'UpdateArtifactSharedRolesPayload') {
      throw new Error('could not share the fixture');
    }
    return fx;
  }

  /** Everything an operation could change, read by the owner. */
  async function snapshot(fx: Fixture) {
    const [w, a] = await Promise.all([
      owner.exec(WorkloadAccessDocument, { id: fx.workloadId, search: fx.tag }),
      owner.exec(ArtifactAccessDocument, { id: fx.artifactId, search: fx.tag }),
    ]);
    const rows = await t.app.orm.em.fork().getConnection().execute(
      `select (select row_to_json(x) from (select name, description, importance, status, updated_at from workload where id = ?) x) as workload,
              (select row_to_json(x) from (select name, description, status, version, spec, deleted_at from artifact where id = ?) x) as artifact,
              (select count(*)::int from workload where name like ?) as workloads,
              (select count(*)::int from artifact where name like ?) as artifacts`,
      [rawId(fx.workloadId), rawId(fx.artifactId), `${fx.tag}%`, `${fx.tag}%`],
    );
    return { w, a, rows };
  }

  describe.each(CALLERS)('$name', ({ who, role }) => {
    let caller: TestCaller;
    beforeAll(async () => {
      caller = t.as(await who());
    });

    it(role ? `reads the workload, its events, grants and artifact as ${role}` : 'learns nothing of the workload: not found, not listed', async () => {
      const fx = await fixture();
      const r = await caller.exec(WorkloadAccessDocument, { id: fx.workloadId, search: fx.tag });
      if (!role) {
        expect(r.workload).toEqual({ __typename: 'NotFoundError' });
        expect(r.node).toBeNull();
        expect(r.workloads).toEqual({ totalCount: 0, edges: [] });
        return;
      }
      if (r.workload.__typename !== 'Workload') throw new Error(r.workload.__typename);
      expect(r.workload.viewerRole).toBe(role);
      expect(r.workload.events.edges.map((e) => e.node.type)).toEqual(['created', 'sharingChanged']);
      expect(r.workload.sharedRoles).toHaveLength(GRANTS.length);
      expect(r.workload.artifact.id).toBe(fx.runArtifactId);
      expect(r.node).toEqual({ id: fx.workloadId });
      expect(r.workloads.totalCount).toBe(1);
    });

    it(role ? `reads the shared artifact as ${role}` : 'learns nothing of the artifacts', async () => {
      const fx = await fixture();
      const r = await caller.exec(ArtifactAccessDocument, { id: fx.artifactId, search: fx.tag });
      const viaWorkload = await caller.exec(ArtifactAccessDocument, { id: fx.runArtifactId, search: `${fx.tag}-run` });
      if (!role) {
        expect(r).toEqual({ artifact: { __typename: 'NotFoundError' }, node: null, artifacts: { totalCount: 0 } });
        expect(viaWorkload).toEqual({ artifact: { __typename: 'NotFoundError' }, node: null, artifacts: { totalCount: 0 } });
        return;
      }
      expect(r.artifact).toMatchObject({ __typename: 'Artifact', viewerRole: role });
      expect(r.artifacts.totalCount).toBe(2);
      // The artifact a visible workload runs is readable through it, as an observer at least.
      expect(viaWorkload.artifact).toMatchObject({ __typename: 'Artifact' });
      expect(viaWorkload.artifacts.totalCount).toBe(1);
    });

    it.each(OPERATIONS)('$name (needs $needs)', async (op) => {
      const fx = await fixture();
      const before = await snapshot(fx);
      const result = await op.run(caller, fx);
      if (role && rank[role] >= rank[op.needs]) {
        expect(result.__typename).toBe(SUCCESS[op.name]);
        return;
      }
      if (role) {
        expect(result).toMatchObject({ __typename: 'ForbiddenError', code: 'FORBIDDEN', requiredRole: op.needs, viewerRole: role });
      } else {
        expect(result).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND', resourceType: op.resource });
      }
      expect(await snapshot(fx)).toEqual(before);
    });

    it.each(LIFECYCLE)('$name (needs $needs)', async (op) => {
      const fx = await fixture();
      const before = await snapshot(fx);
      const result = await op.run(caller, fx);
      if (role && rank[role] >= rank[op.needs]) {
        // Authorized: the lifecycle rules decide (a payload, or a typed lifecycle refusal).
        expect(['WorkloadOperationPayload', 'InvalidTransitionError']).toContain(result.__typename);
        return;
      }
      if (role) {
        expect(result).toMatchObject({ __typename: 'ForbiddenError', requiredRole: op.needs, viewerRole: role });
      } else {
        expect(result).toMatchObject({ __typename: 'NotFoundError', resourceType: op.resource });
      }
      expect(await snapshot(fx)).toEqual(before);
    });
  });

  describe.each(UNAUTHENTICATED)('a request with $name', ({ authorization }) => {
    it.each([
      ['a read', print(WorkloadAccessDocument), (fx: Fixture) => ({ id: fx.workloadId, search: fx.tag })],
      ['a write', print(UpdateWorkloadDocument), (fx: Fixture) => ({ input: { id: fx.workloadId, description: 'sneaky' } })],
      ['a create', print(CreateArtifactDocument), () => ({ input: artifactInput() })],
    ] as const)('is refused as UNAUTHENTICATED with HTTP 401 before anything runs: %s', async (_what, query, variables) => {
      const fx = await fixture();
      const before = await snapshot(fx);
      const auth = await authorization();
      const response = await t.app.yoga.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify({ query, variables: variables(fx) }),
      });
      expect(response.status).toBe(401);
      const body = (await response.json()) as { data?: unknown; errors: { extensions: { code: string } }[] };
      expect(body.data ?? null).toBeNull();
      expect(body.errors[0]?.extensions.code).toBe('UNAUTHENTICATED');
      expect(await snapshot(fx)).toEqual(before);
    });
  });

  it('refuses a shared-role list without an OWNER, with duplicates, or over 100 entries, changing nothing', async () => {
    const fx = await fixture();
    const before = await snapshot(fx);
    const cases: [unknown[], string][] = [
      [[{ subjectType: 'USER', subjectId: 'ed', role: 'EDITOR' }], 'roles'],
      [[...GRANTS, { subjectType: 'USER', subjectId: 'ed', role: 'OBSERVER' }], `roles.${GRANTS.length}.subjectId`],
      [Array.from({ length: 101 }, (_, i) => ({ subjectType: 'USER', subjectId: `u${i}`, role: 'OWNER' })), 'roles'],
      [[...GRANTS, { subjectType: 'GROUP', subjectId: '', role: 'OBSERVER' }], `roles.${GRANTS.length}.subjectId`],
    ];
    for (const [roles, path] of cases) {
      const { updateWorkloadSharedRoles } = await owner.exec(UpdateWorkloadSharedRolesDocument, { input: { id: fx.workloadId, roles: roles as never } });
      expect(updateWorkloadSharedRoles.__typename).toBe('ValidationError');
      if (updateWorkloadSharedRoles.__typename === 'ValidationError') {
        expect(updateWorkloadSharedRoles.issues.map((i) => i.path.join('.'))).toContain(path);
      }
      const { updateArtifactSharedRoles } = await owner.exec(UpdateArtifactSharedRolesDocument, { input: { id: fx.artifactId, roles: roles as never } });
      expect(updateArtifactSharedRoles.__typename).toBe('ValidationError');
    }
    expect(await snapshot(fx)).toEqual(before);
  });

  it('records sharing changes in the workload\'s event log and takes effect at once', async () => {
    const fx = await fixture();
    const stranger = t.as({ sub: 'newcomer' });
    expect((await stranger.exec(WorkloadAccessDocument, { id: fx.workloadId, search: fx.tag })).workload.__typename).toBe('NotFoundError');
    const { updateWorkloadSharedRoles } = await owner.exec(UpdateWorkloadSharedRolesDocument, {
      input: { id: fx.workloadId, roles: [{ subjectType: 'USER', subjectId: 'owner', role: 'OWNER' }, { subjectType: 'USER', subjectId: 'newcomer', role: 'EDITOR' }] },
    });
    expect(updateWorkloadSharedRoles.__typename).toBe('UpdateWorkloadSharedRolesPayload');
    const seen = await stranger.exec(WorkloadAccessDocument, { id: fx.workloadId, search: fx.tag });
    if (seen.workload.__typename !== 'Workload') throw new Error(seen.workload.__typename);
    expect(seen.workload.viewerRole).toBe('EDITOR');
    const last = seen.workload.events.edges.at(-1)?.node;
    expect(last?.type).toBe('sharingChanged');
    // The editor that was removed no longer sees it.
    expect((await t.as({ sub: 'ed' }).exec(WorkloadAccessDocument, { id: fx.workloadId, search: fx.tag })).workload.__typename).toBe('NotFoundError');
  });

  it('pages through a scattered third of 250 workloads with full pages and the right total', async () => {
    const tag = `many${Date.now()}`;
    const viewer = t.as({ sub: 'pager' });
    const visible: string[] = [];
    for (let i = 0; i < 250; i++) {
      const { createWorkload } = await owner.exec(CreateWorkloadDocument, { input: { name: `${tag}-${String(i).padStart(3, '0')}`, artifact: artifactInput() as never } });
      if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
      if (i % 3 === 1) {
        await owner.exec(UpdateWorkloadSharedRolesDocument, {
          input: { id: createWorkload.workload.id, roles: [{ subjectType: 'USER', subjectId: 'owner', role: 'OWNER' }, { subjectType: 'USER', subjectId: 'pager', role: 'OBSERVER' }] },
        });
        visible.push(createWorkload.workload.name);
      }
    }
    const seen: string[] = [];
    let after: string | null | undefined;
    for (;;) {
      const r = await viewer.execRaw(
        `query($after: String) { workloads(first: 20, after: $after, filter: { search: "${tag}" }, orderBy: { field: NAME, direction: ASC }) {
          totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }`,
        { after },
      );
      const page = (r.data as { workloads: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string }; edges: { node: { name: string } }[] } }).workloads;
      expect(page.totalCount).toBe(visible.length);
      if (page.pageInfo.hasNextPage) expect(page.edges).toHaveLength(20);
      seen.push(...page.edges.map((e) => e.node.name));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(visible);
  }, 120_000);
});

function rawId(globalId: string): string {
  return Buffer.from(globalId, 'base64').toString().split(':')[1] ?? '';
}
