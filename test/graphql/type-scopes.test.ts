import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { execute, parse, type ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { userViewer } from '../../src/auth/viewer.js';
import type { SharingRole } from '../../src/domain/model.js';
import { buildSchema } from '../../src/graphql/schema.js';
import type { WorkloadPage } from '../../src/service/workload.service.js';
import { schemaContext } from '../support/schema-context.js';

/**
 * The auth scopes on Workload, Artifact and Proton are defense in depth: the services already
 * read only what the caller may see. Here a service hands over a page the caller holds no role on
 * (as a bug would), and the type scopes must keep every field of it out of the answer. The roles
 * are the page's own (primed as a list primes them), so nothing reads the database.
 */
const schema = buildSchema();

function pageOf(workloadRole: SharingRole | null, artifactRole: SharingRole | null): { page: WorkloadPage; workloadId: string } {
  const workloadId = randomUUID();
  const artifactId = randomUUID();
  const artifact = { id: artifactId, name: 'secret-artifact', status: 'draft', version: null };
  const proton = { id: randomUUID(), role: 'active', status: 'running', workload: { id: workloadId }, artifact: { id: artifactId } };
  const workload = { id: workloadId, name: 'secret-workload', status: 'running', artifact: { id: artifactId }, lifecycle: null };
  return {
    workloadId,
    page: {
      workloads: [workload],
      protons: new Map([[workloadId, [proton]]]),
      artifacts: [artifact],
      workloadRoles: new Map([[workloadId, workloadRole]]),
      artifactRoles: new Map([[artifactId, artifactRole]]),
    } as unknown as WorkloadPage,
  };
}

async function read(page: WorkloadPage, workloadId: string, selection: string): Promise<ExecutionResult> {
  const contextValue = schemaContext(userViewer('mallory'), { workloads: { view: async () => page } });
  return execute({
    schema,
    document: parse(`query($id: ID!) { workload(id: $id) { __typename ... on Workload { ${selection} } } }`),
    variableValues: { id: encodeGlobalID('Workload', workloadId) },
    contextValue,
  });
}

describe('the type scopes (defense in depth behind the services)', () => {
  it('answers the fields of a workload, its artifact and protons when the caller holds roles on them', async () => {
    const { page, workloadId } = pageOf('OBSERVER', 'OBSERVER');
    const result = await read(page, workloadId, 'name artifact { name } protons { role artifact { name } }');
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      workload: { __typename: 'Workload', name: 'secret-workload', artifact: { name: 'secret-artifact' }, protons: [{ role: 'ACTIVE', artifact: { name: 'secret-artifact' } }] },
    });
  });

  it('keeps a workload the caller holds no role on out of the answer, with a FORBIDDEN error', async () => {
    const { page, workloadId } = pageOf(null, 'OBSERVER');
    const result = await read(page, workloadId, 'id name');
    expect(JSON.stringify(result.data ?? null)).not.toContain('secret');
    expect(result.errors?.map((e) => (e.originalError as { code?: string } | undefined)?.code)).toContain('FORBIDDEN');
  });

  it('keeps an artifact the caller may not read out of the answer, on the workload and on its protons', async () => {
    const { page, workloadId } = pageOf('OBSERVER', null);
    for (const selection of ['name artifact { name }', 'name protons { artifact { name } }']) {
      const result = await read(page, workloadId, selection);
      expect(JSON.stringify(result.data ?? null)).not.toContain('secret-artifact');
      expect(result.errors?.map((e) => (e.originalError as { code?: string } | undefined)?.code)).toContain('FORBIDDEN');
    }
  });

  it('keeps a proton out of the answer when the caller holds no role on its workload, even on a workload it may read', async () => {
    const { page, workloadId } = pageOf('OBSERVER', 'OBSERVER');
    const foreign = randomUUID();
    const [proton] = page.protons.get(workloadId)!;
    (proton as { workload: { id: string } }).workload = { id: foreign };
    (page.workloadRoles as Map<string, SharingRole | null>).set(foreign, null);
    const result = await read(page, workloadId, 'name protons { role }');
    expect(JSON.stringify(result.data ?? null)).not.toContain('ACTIVE');
    expect(result.errors?.map((e) => (e.originalError as { code?: string } | undefined)?.code)).toEqual(['FORBIDDEN']);
    expect(result.errors?.[0]?.message).toBe('Not authorized to read fields for Proton');
  });

  it('checks an object reached through an abstract type (node) as it completes, not while its type is resolved', async () => {
    const { page, workloadId } = pageOf('OBSERVER', 'OBSERVER');
    const [workload] = page.workloads;
    const byNode = async (role: SharingRole | null) => {
      const contextValue = schemaContext(userViewer('mallory'), { workloads: { loadMany: async () => [workload] } });
      contextValue.access.workloadRole.prime(workloadId, role);
      return execute({
        schema,
        document: parse(`query($id: ID!) { node(id: $id) { __typename ... on Workload { name } } }`),
        variableValues: { id: encodeGlobalID('Workload', workloadId) },
        contextValue,
      });
    };
    expect(await byNode('OBSERVER')).toEqual({ data: { node: { __typename: 'Workload', name: 'secret-workload' } } });
    const refused = await byNode(null);
    expect(JSON.stringify(refused.data ?? null)).not.toContain('secret');
    expect(refused.errors?.map((e) => (e.originalError as { code?: string } | undefined)?.code)).toEqual(['FORBIDDEN']);
  });

  it('waits for a role the request must load, and refuses what it then does not hold', async () => {
    for (const [holds, shown] of [[true, true], [false, false]] as const) {
      const { page, workloadId } = pageOf('OBSERVER', 'OBSERVER');
      const contextValue = schemaContext(userViewer('mallory'), { workloads: { view: async () => page } });
      const asked: string[] = [];
      // Roles not known to the request: loaded (a promise), as a workload read by id loads them.
      Object.assign(contextValue.access.workloadRole, { holdsAny: async (id: string) => (asked.push(id), holds) });
      const result = await execute({
        schema,
        document: parse(`query($id: ID!) { workload(id: $id) { __typename ... on Workload { name } } }`),
        variableValues: { id: encodeGlobalID('Workload', workloadId) },
        contextValue,
      });
      expect(asked).toContain(workloadId);
      expect(JSON.stringify(result.data ?? null).includes('secret-workload')).toBe(shown);
      expect(result.errors?.map((e) => (e.originalError as { code?: string } | undefined)?.code)).toEqual(shown ? undefined : ['FORBIDDEN']);
    }
  });
});
