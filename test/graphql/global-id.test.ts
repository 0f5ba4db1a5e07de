import { describe, expect, it } from 'vitest';
import SchemaBuilder from '@pothos/core';
import RelayPlugin, { encodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLObjectType, type GraphQLResolveInfo } from 'graphql';
import { resolveGlobalIdsSynchronously } from '../../src/graphql/common/global-id.js';
import { buildSchema } from '../../src/graphql/schema.js';
import { roleLoader } from '../../src/service/access-loaders.js';

const infoOf = (type: GraphQLObjectType) =>
  ({ fieldName: 'id', parentType: type, path: { prev: undefined, key: 'id', typename: type.name } }) as unknown as GraphQLResolveInfo;

describe('global ids', () => {
  // First: the check below patches the field builder itself, and Pothos builds fields lazily.
  it("are answered synchronously on the product's nodes once the caller's role is known", () => {
    const schema = buildSchema();
    const known = () => {
      const roles = roleLoader(async () => {
        throw new Error('no read expected');
      });
      roles.prime('11111111-1111-4111-8111-111111111111', 'OWNER');
      return roles;
    };
    const id = '11111111-1111-4111-8111-111111111111';
    const values: Record<string, object> = {
      Workload: { id },
      Artifact: { id },
      Proton: { id, workload: { id }, role: 'ACTIVE' },
    };
    for (const [name, value] of Object.entries(values)) {
      const type = schema.getType(name) as GraphQLObjectType;
      const context = { viewer: { userId: 'u' }, access: { workloadRole: known(), artifactRole: known() } };
      const result = type.getFields().id!.resolve!(value, {}, context, infoOf(type));
      expect(result, name).toBe(encodeGlobalID(name, id));
    }
  });

  it('resolve at once when their resolver does, later when it answers later, and keep the relay encoding', async () => {
    resolveGlobalIdsSynchronously();
    const builder = new SchemaBuilder<{ Context: object }>({ plugins: [RelayPlugin], relay: {} } as never);
    builder.node(builder.objectRef<{ id: string; late?: boolean }>('Thing'), {
      id: { resolve: (thing) => (thing.late ? Promise.resolve(thing.id) : thing.id) },
      loadOne: () => null,
      isTypeOf: () => true,
      fields: () => ({}),
    });
    builder.queryType({ fields: (t) => ({ ok: t.boolean({ resolve: () => true }) }) });
    const type = builder.toSchema().getType('Thing') as GraphQLObjectType;
    const resolve = type.getFields().id!.resolve!;

    const now = resolve({ id: 'a1' }, {}, {}, infoOf(type));
    expect(now).toBe(encodeGlobalID('Thing', 'a1'));
    const later = resolve({ id: 'a2', late: true }, {}, {}, infoOf(type));
    expect(later).toBeInstanceOf(Promise);
    expect(await later).toBe(encodeGlobalID('Thing', 'a2'));
  });
});
