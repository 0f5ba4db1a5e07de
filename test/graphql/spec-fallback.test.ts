import { encodeGlobalID } from '@pothos/plugin-relay';
import { execute, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { userViewer } from '../../src/auth/viewer.js';
import { buildSchema } from '../../src/graphql/schema.js';
import { pageOfOne, schemaContext } from '../support/schema-context.js';

/**
 * A list's page leaves its artifacts' specs out when the operation names no `spec` (ADR 0061
 * decision 19); the page's artifacts prime the request's loader. Should an artifact without its
 * spec ever reach `Artifact.spec`, the field loads it (through the artifact service, as the
 * caller) rather than answering null or a wrong spec. Here a service hands over such a view.
 */
const schema = buildSchema();
const spec = { containerGroups: [{ name: 'default', containers: [{ name: 'app', imageUri: 'registry.example/app:1', primary: true }] }] };

function read(loaded: string[][]) {
  // Read by a page without specs.
  const { page, workloadId, artifactId } = pageOfOne();
  const contextValue = schemaContext(userViewer('developer'), {
    workloads: { view: async () => page },
    artifacts: {
      loadMany: async (_em: unknown, who: { userId: string }, ids: readonly string[]) => {
        expect(who.userId).toBe('developer');
        loaded.push([...ids]);
        return ids.map((id) => ({ id, spec }));
      },
    },
  });
  return execute({
    schema,
    document: parse(`query($id: ID!) { workload(id: $id) { ... on Workload { artifact { name spec { containerGroups { containers { imageUri } } } } } } }`),
    variableValues: { id: encodeGlobalID('Workload', workloadId) },
    contextValue,
  });
}

describe("an artifact's spec", () => {
  it('is loaded for an artifact that was read without it', async () => {
    const loaded: string[][] = [];
    const result = await read(loaded);
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ workload: { artifact: { name: 'a', spec: { containerGroups: [{ containers: [{ imageUri: 'registry.example/app:1' }] }] } } } });
    expect(loaded).toHaveLength(1);
  });
});
