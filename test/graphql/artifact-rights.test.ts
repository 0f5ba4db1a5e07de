import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionResult } from 'graphql';
import { RULEBOOK } from '../../src/domain/rulebook.js';
import { describeEachDatabase } from '../support/backends.js';
import { specInput } from '../support/fixtures.js';
import { startTestApp, type TestApp, type TestCaller } from '../support/test-app.js';

type Role = 'OWNER' | 'EDITOR' | 'OBSERVER';
const rank = { OBSERVER: 0, EDITOR: 1, OWNER: 2 } as const;
const atLeast = (role: Role | null, needed: Role) => role !== null && rank[role] >= rank[needed];

/** What a caller gets: through authorization (whatever the state then says), refused for the role, or told nothing. */
type Outcome = 'allowed' | 'Forbidden' | 'NotFound';

/**
 * Artifact rights (SPEC.md section 4, ADR 0004): every artifact operation, as OWNER, EDITOR,
 * OBSERVER and no role on the artifact, from the owner's organization and from another.
 */
describeEachDatabase('artifact rights', (backend) => {
  let t: TestApp;
  let alice: TestCaller;
  let n = 0;

  beforeAll(async () => {
    t = await startTestApp(backend);
    alice = t.as({ sub: 'alice', org: 'acme' });
  });
  afterAll(() => t?.stop());

  function data(result: ExecutionResult): Record<string, any> {
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    return result.data as Record<string, any>;
  }

  async function artifact(caller: TestCaller = alice, options: { locked?: boolean } = {}): Promise<{ id: string; repositoryId: string }> {
    const created = data(
      await caller.execRaw(
        `mutation($input: CreateArtifactInput!) { createArtifact(input: $input) { ... on CreateArtifactPayload { artifact { id repositoryId } } } }`,
        { input: { name: `art-${++n}`, spec: specInput() } },
      ),
    ).createArtifact.artifact;
    if (options.locked) await lock(caller, created.id);
    return created;
  }

  async function lock(caller: TestCaller, id: string) {
    return data(
      await caller.execRaw(
        `mutation($id: ID!) { lockArtifact(id: $id) { __typename ... on LockArtifactPayload { artifact { version repositoryId } } ... on Error { message } } }`,
        { id },
      ),
    ).lockArtifact;
  }

  async function shareArtifact(id: string, subject: string, role: Role) {
    const r = data(
      await alice.execRaw(`mutation($input: UpdateSharedRolesInput!) { updateArtifactSharedRoles(input: $input) { __typename } }`, {
        input: { id, roles: [{ subjectType: 'USER', subjectId: 'alice', role: 'OWNER' }, { subjectType: 'USER', subjectId: subject, role }] },
      }),
    );
    expect(r.updateArtifactSharedRoles.__typename).toBe('UpdateArtifactSharedRolesPayload');
  }

  async function shareWorkload(id: string, subject: string, role: Role) {
    const r = data(
      await alice.execRaw(`mutation($input: UpdateSharedRolesInput!) { updateWorkloadSharedRoles(input: $input) { __typename } }`, {
        input: { id, roles: [{ subjectType: 'USER', subjectId: 'alice', role: 'OWNER' }, { subjectType: 'USER', subjectId: subject, role }] },
      }),
    );
    expect(r.updateWorkloadSharedRoles.__typename).toBe('UpdateWorkloadSharedRolesPayload');
  }

  async function createWorkload(caller: TestCaller, input: Record<string, unknown>) {
    return data(
      await caller.execRaw(
        `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) {
           __typename ... on CreateWorkloadPayload { workload { id } } ... on ForbiddenError { requiredRole viewerRole } ... on Error { message } } }`,
        { input: { name: `w-${++n}`, ...input } },
      ),
    ).createWorkload;
  }

  const outcome = (typename: string): Outcome =>
    typename === 'ForbiddenError' ? 'Forbidden' : typename === 'NotFoundError' ? 'NotFound' : 'allowed';

  /** One artifact operation: the role it needs on the artifact and how to try it (a fresh fixture each time). */
  interface ArtifactOperation {
    name: string;
    /** The role needed on the artifact (null: any role that can read it). */
    needs: Role;
    /** What a caller with no role on the artifact gets (NotFound, unless the operation lets them see it another way). */
    withoutRole?: Outcome;
    run(caller: TestCaller, grant: (artifactId: string) => Promise<void>, subject: string): Promise<string>;
  }

  const mutation = (name: string, document: string) => async (caller: TestCaller, variables: Record<string, unknown>) =>
    data(await caller.execRaw(document, variables))[name].__typename as string;
  const byId = (name: string) => mutation(name, `mutation($id: ID!) { ${name}(id: $id) { __typename } }`);

  const OPERATIONS: ArtifactOperation[] = [
    {
      name: 'read (artifact)',
      needs: 'OBSERVER',
      async run(caller, grant) {
        const a = await artifact();
        await grant(a.id);
        return data(await caller.execRaw(`query($id: ID!) { artifact(id: $id) { __typename } }`, { id: a.id })).artifact.__typename;
      },
    },
    {
      name: RULEBOOK.updateArtifact.mutation,
      needs: 'EDITOR',
      async run(caller, grant) {
        const a = await artifact();
        await grant(a.id);
        return mutation('updateArtifact', `mutation($input: UpdateArtifactInput!) { updateArtifact(input: $input) { __typename } }`)(caller, {
          input: { id: a.id, description: 'changed' },
        });
      },
    },
    {
      name: RULEBOOK.lockArtifact.mutation,
      needs: 'EDITOR',
      async run(caller, grant) {
        const a = await artifact();
        await grant(a.id);
        return byId('lockArtifact')(caller, { id: a.id });
      },
    },
    {
      name: RULEBOOK.cloneArtifact.mutation,
      needs: 'OBSERVER',
      async run(caller, grant) {
        const a = await artifact();
        await grant(a.id);
        return mutation('cloneArtifact', `mutation($input: CloneArtifactInput!) { cloneArtifact(input: $input) { __typename } }`)(caller, { input: { id: a.id } });
      },
    },
    {
      name: RULEBOOK.deleteArtifact.mutation,
      needs: 'OWNER',
      async run(caller, grant) {
        const a = await artifact();
        await grant(a.id);
        return byId('deleteArtifact')(caller, { id: a.id });
      },
    },
    {
      name: RULEBOOK.updateArtifactSharedRoles.mutation,
      needs: 'OWNER',
      async run(caller, grant, subject) {
        const a = await artifact();
        await grant(a.id);
        return mutation('updateArtifactSharedRoles', `mutation($input: UpdateSharedRolesInput!) { updateArtifactSharedRoles(input: $input) { __typename } }`)(caller, {
          input: { id: a.id, roles: [{ subjectType: 'USER', subjectId: 'alice', role: 'OWNER' }, { subjectType: 'USER', subjectId: subject, role: 'OWNER' }] },
        });
      },
    },
    {
      name: 'createWorkload on a draft',
      needs: 'EDITOR',
      async run(caller, grant) {
        const a = await artifact();
        await grant(a.id);
        return (await createWorkload(caller, { artifactId: a.id })).__typename;
      },
    },
    {
      name: 'createWorkload on a locked artifact',
      needs: 'OBSERVER',
      async run(caller, grant) {
        const a = await artifact(alice, { locked: true });
        await grant(a.id);
        return (await createWorkload(caller, { artifactId: a.id })).__typename;
      },
    },
    {
      name: 'replaceWorkloadArtifact onto a draft',
      needs: 'EDITOR',
      async run(caller, grant) {
        const own = await createWorkload(caller, { artifact: { name: `own-${++n}`, spec: specInput() } });
        const a = await artifact();
        await grant(a.id);
        return mutation('replaceWorkloadArtifact', `mutation($input: ReplaceWorkloadArtifactInput!) { replaceWorkloadArtifact(input: $input) { __typename } }`)(caller, {
          input: { id: own.workload.id, artifactId: a.id },
        });
      },
    },
    {
      name: 'replaceWorkloadArtifact onto a locked artifact',
      needs: 'OBSERVER',
      async run(caller, grant) {
        const mine = await artifact(caller, { locked: true });
        const own = await createWorkload(caller, { artifactId: mine.id });
        const a = await artifact(alice, { locked: true });
        await grant(a.id);
        return mutation('replaceWorkloadArtifact', `mutation($input: ReplaceWorkloadArtifactInput!) { replaceWorkloadArtifact(input: $input) { __typename } }`)(caller, {
          input: { id: own.workload.id, artifactId: a.id },
        });
      },
    },
    {
      // The caller edits alice's workload; seeing it shows its artifact (OBSERVER), so no role is Forbidden, not NotFound.
      name: 'promoteWorkload of an editable workload running the draft',
      needs: 'EDITOR',
      withoutRole: 'Forbidden',
      async run(caller, grant, subject) {
        const a = await artifact();
        const w = await createWorkload(alice, { artifactId: a.id });
        await shareWorkload(w.workload.id, subject, 'EDITOR');
        await grant(a.id);
        return byId('promoteWorkload')(caller, { id: w.workload.id });
      },
    },
  ];

  const ROLES: (Role | null)[] = ['OWNER', 'EDITOR', 'OBSERVER', null];
  const ORGS = [
    { name: 'the same organization', org: 'acme' },
    { name: 'another organization', org: 'globex' },
  ];

  for (const operation of OPERATIONS) {
    describe(operation.name, () => {
      for (const role of ROLES) {
        for (const org of ORGS) {
          const expected: Outcome = atLeast(role, operation.needs) ? 'allowed' : role === null ? (operation.withoutRole ?? 'NotFound') : 'Forbidden';
          it(`is ${expected} for ${role ?? 'no role'} from ${org.name}`, async () => {
            const subject = `u-${++n}`;
            const caller = t.as({ sub: subject, org: org.org });
            const grant = async (id: string) => {
              if (role) await shareArtifact(id, subject, role);
            };
            expect(outcome(await operation.run(caller, grant, subject))).toBe(expected);
          });
        }
      }
    });
  }

  it('lets an OBSERVER of a draft neither run it nor promote a workload running it; the draft stays a draft', async () => {
    const a = await artifact();
    await shareArtifact(a.id, 'bob', 'OBSERVER');
    const bob = t.as({ sub: 'bob', org: 'acme' });
    expect(await createWorkload(bob, { artifactId: a.id })).toMatchObject({ __typename: 'ForbiddenError', requiredRole: 'EDITOR', viewerRole: 'OBSERVER' });
    const w = await createWorkload(alice, { artifactId: a.id });
    await shareWorkload(w.workload.id, 'bob', 'EDITOR');
    const promoted = data(
      await bob.execRaw(`mutation($id: ID!) { promoteWorkload(id: $id) { __typename ... on ForbiddenError { requiredRole viewerRole } } }`, { id: w.workload.id }),
    ).promoteWorkload;
    expect(promoted).toEqual({ __typename: 'ForbiddenError', requiredRole: 'EDITOR', viewerRole: 'OBSERVER' });
    const after = data(await alice.execRaw(`query($id: ID!) { artifact(id: $id) { ... on Artifact { status version } } }`, { id: a.id })).artifact;
    expect(after).toEqual({ status: 'DRAFT', version: null });
  });

  it('clones into a new repository of the cloner\'s without EDITOR on the source, and into the source\'s repository with it', async () => {
    const source = await artifact();
    await shareArtifact(source.id, 'carol', 'OBSERVER');
    const carol = t.as({ sub: 'carol', org: 'globex' });
    const clone = data(
      await carol.execRaw(`mutation($input: CloneArtifactInput!) { cloneArtifact(input: $input) { ... on CloneArtifactPayload { artifact { id repositoryId } } } }`, {
        input: { id: source.id, name: 'carols' },
      }),
    ).cloneArtifact.artifact;
    expect(clone.repositoryId).not.toBe(source.repositoryId);
    expect(await lock(carol, clone.id)).toMatchObject({ __typename: 'LockArtifactPayload', artifact: { version: 1, repositoryId: clone.repositoryId } });
    // Alice's repository did not move: her own first lock is still version 1.
    expect(await lock(alice, source.id)).toMatchObject({ artifact: { version: 1, repositoryId: source.repositoryId } });

    const other = await artifact();
    await shareArtifact(other.id, 'ed', 'EDITOR');
    const ed = t.as({ sub: 'ed', org: 'acme' });
    const edits = data(
      await ed.execRaw(`mutation($input: CloneArtifactInput!) { cloneArtifact(input: $input) { ... on CloneArtifactPayload { artifact { id repositoryId } } } }`, {
        input: { id: other.id },
      }),
    ).cloneArtifact.artifact;
    expect(edits.repositoryId).toBe(other.repositoryId);
  });

  it('refuses a rename onto the name of a workload the editor cannot see without naming or linking it', async () => {
    const hidden = await createWorkload(alice, { name: `secret-${++n}`, description: 'alice only', artifact: { name: 'x', spec: specInput() } });
    const hiddenName = data(await alice.execRaw(`query($id: ID!) { workload(id: $id) { ... on Workload { name } } }`, { id: hidden.workload.id })).workload.name;
    const shared = await createWorkload(alice, { artifact: { name: 'y', spec: specInput() } });
    await shareWorkload(shared.workload.id, 'ed', 'EDITOR');
    const ed = t.as({ sub: 'ed', org: 'acme' });
    const rename = `mutation($input: UpdateWorkloadInput!) { updateWorkload(input: $input) { __typename ... on ConflictError { message reason conflictingIds } } }`;
    const refused = data(await ed.execRaw(rename, { input: { id: shared.workload.id, name: hiddenName } })).updateWorkload;
    expect(refused).toMatchObject({ __typename: 'ConflictError', reason: 'NameTaken', conflictingIds: [] });
    expect(refused.message).not.toMatch(/workload "|exists|cannot see|alice only/);
    expect(refused.message).not.toContain(hidden.workload.id);
    // The owner, who sees both, is told which workload holds the name.
    const owner = data(await alice.execRaw(rename, { input: { id: shared.workload.id, name: hiddenName } })).updateWorkload;
    expect(owner).toMatchObject({ __typename: 'ConflictError', reason: 'NameTaken' });
    expect(owner.conflictingIds).toHaveLength(1);
  });
});
