import { contextCacheSymbol } from '@pothos/core';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userViewer } from '../../src/auth/viewer.js';
import { ArtifactNode } from '../../src/graphql/artifact/artifact.type.js';
import { releaseOperationCachesPlugin } from '../../src/graphql/common/operation-cache.js';
import { createOperationContext, holdsRequestScope, operationCache, releaseRequestScope, type GraphQLContext } from '../../src/graphql/context.js';
import { buildSchema } from '../../src/graphql/schema.js';
import { describeEachDatabase } from '../support/backends.js';
import { pageOfOne } from '../support/schema-context.js';
import { startTestApp, tokenFor, type TestApp } from '../support/test-app.js';

/**
 * A query's or mutation's per-operation caches (its loaders' values, its EntityManager and role
 * loaders) are dropped once its result is complete (ADR 0061 decision 22):
 * Pothos keeps them in WeakMaps keyed by the context, whose values V8's scavenger keeps alive
 * until a full collection, so every page read was promoted to the old generation.
 */
const schema = buildSchema();

function operation(loadedArtifacts: string[][]) {
  // Read by a page without specs.
  const { page, workloadId, artifactId } = pageOfOne();
  const services = {
    workloads: { view: async () => page },
    artifacts: {
      loadMany: async (_em: unknown, _who: unknown, ids: readonly string[]) => {
        loadedArtifacts.push([...ids]);
        return ids.map((id) => ({ id, name: 'a', status: 'draft', version: null, spec: null }));
      },
    },
  };
  const base = { viewer: userViewer('developer'), services, publicBaseUrl: 'http://api.test', live: {} } as never;
  // As the app makes it: the request scope installed on Yoga's own context object.
  const holder: { context?: GraphQLContext; probe?: object } = {};
  const contextFactory = (initial: object) => {
    holder.context = initial as GraphQLContext;
    // The key Pothos' caches hold the operation's values under, and a stand-in holding it: what
    // those caches still keep for the operation after it (the context itself moves on to a new key).
    const key = {};
    Object.assign(initial, { [contextCacheSymbol]: key });
    holder.probe = { [contextCacheSymbol]: key };
    return createOperationContext(initial, base, () => ({}) as never);
  };
  return { holder, contextFactory, workloadId, artifactId };
}

async function query(contextFactory: (initial: object) => GraphQLContext, workloadId: string, plugins = [releaseOperationCachesPlugin]) {
  const yoga = createYoga({ schema, context: contextFactory, plugins, logging: false, maskedErrors: false });
  const response = await yoga.fetch('http://api.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'query($id: ID!) { workload(id: $id) { ... on Workload { name protons { id } artifact { name } } } }',
      variables: { id: encodeGlobalID('Workload', workloadId) },
    }),
  });
  return (await response.json()) as { data?: unknown; errors?: unknown };
}

describe('per-operation caches', () => {
  it('answer one value within an operation and a new one after it is released', () => {
    let made = 0;
    const cache = operationCache((_ctx: object) => ({ n: ++made }));
    const context = {};
    const first = cache(context);
    expect(cache(context)).toBe(first);
    releaseRequestScope(context);
    expect(cache(context)).not.toBe(first);
    expect(made).toBe(2);
  });

  it("are dropped when a query's result is complete: its loaders' values, its EntityManager and role loaders", async () => {
    const loaded: string[][] = [];
    const { holder, contextFactory, workloadId, artifactId } = operation(loaded);
    const result = await query(contextFactory, workloadId);
    const context = holder.context!;
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ workload: { name: 'w', protons: [], artifact: { name: 'a' } } });
    // The page primed the artifact, so the query loaded none.
    expect(loaded).toEqual([]);
    expect(holdsRequestScope(context)).toBe(false);
    // The artifact the page primed is no longer held: a load after the operation asks the service.
    await ArtifactNode.getDataloader(holder.probe as never).load(artifactId);
    expect(loaded).toEqual([[artifactId]]);
  });

  it('keep what the operation cached while it runs when the plugin is not there (the failure this guards)', async () => {
    const loaded: string[][] = [];
    const { holder, contextFactory, workloadId, artifactId } = operation(loaded);
    const result = await query(contextFactory, workloadId, []);
    expect(result.errors).toBeUndefined();
    const context = holder.context!;
    await ArtifactNode.getDataloader(holder.probe as never).load(artifactId);
    expect(loaded).toEqual([]);
    expect(holdsRequestScope(context)).toBe(true);
  });
});

describeEachDatabase('the app', (backend) => {
  let t: TestApp | undefined;
  beforeAll(async () => {
    t = await startTestApp(backend);
  });
  afterAll(() => t?.stop());

  it("releases a query's operation caches once its result is complete", async () => {
    // A workload read by id: through the operation's EntityManager (a list reads on the ORM's root one).
    const query = '{ workload(id: "V29ya2xvYWQ6eA==") { __typename } }';
    const request = new Request('http://localhost/graphql', { method: 'POST', headers: { authorization: `Bearer ${await tokenFor({ sub: 'alice' })}` } });
    // As the WebSocket transport runs an operation: the app's own plugins around one execution.
    const enveloped = t!.app.yoga.getEnveloped({ request, params: { query } });
    const contextValue = await enveloped.contextFactory();
    const result = await enveloped.execute({ schema: enveloped.schema, document: enveloped.parse(query), contextValue });
    expect(result).toMatchObject({ data: { workload: { __typename: 'NotFoundError' } } });
    // The EntityManager it read through is let go with the result.
    expect(holdsRequestScope(contextValue)).toBe(false);
  });
});
