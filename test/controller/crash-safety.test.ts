import { afterEach, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { ProtonRuntime } from '../../src/runtime/proton-runtime.js';
import { acceleratedTimings, SimulatedCluster, SimulatedProtonRuntime } from '../../src/runtime/simulated/index.js';
import type { DatabaseConfig } from '../../src/store/orm.js';
import { createDatabase, describeEachDatabase } from '../support/backends.js';
import { TEST_ISSUER, TEST_JWT_SECRET, tokenFor } from '../support/test-app.js';

const PHASES = ['submitted', 'initializing', 'warming', 'switching', 'draining'] as const;
type Phase = (typeof PHASES)[number];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {});
});

/** A runtime client that fails one kind of call while `failing` says so: a crash at that step. */
function faultyRuntime(inner: ProtonRuntime, failing: { applyExcept?: string; route?: boolean }): ProtonRuntime {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'applyProton') {
        return async (spec: { protonId: string }) => {
          if (failing.applyExcept && spec.protonId !== failing.applyExcept) throw new Error('injected: the process died before the candidate was applied');
          return (value as ProtonRuntime['applyProton']).call(target, spec as never);
        };
      }
      if (prop === 'routeWorkload') {
        return async (workloadId: string, protonId: string | null) => {
          if (failing.route) throw new Error('injected: the process died before the traffic switch');
          return (value as ProtonRuntime['routeWorkload']).call(target, workloadId, protonId);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describeEachDatabase('a replace survives the API process stopping at any step', (backend) => {
  async function instance(database: DatabaseConfig, runtime: ProtonRuntime, clock?: () => Date): Promise<App> {
    const app = await buildApp({
      ...(clock && { clock }),
      config: loadConfig({
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        AUTH_MODE: 'jwt',
        AUTH_JWT_SECRET: TEST_JWT_SECRET,
        AUTH_ISSUER: TEST_ISSUER,
        CONTROLLER_TICK_MS: '50',
        // Longer than the held warm-up or keep-old, so the later clock fails no step.
        REPLACEMENT_STEP_DEADLINE_SECONDS: '7200',
      }),
      database,
      runtime,
      logger: pino({ level: 'silent' }),
    });
    await app.controller.start();
    return app;
  }

  async function gql(app: App, query: string, variables: Record<string, unknown> = {}) {
    const res = await app.yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor({ sub: 'crash-tester' })}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: any; errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  }

  const spec = (fault?: string) =>
    `{ containerGroups: [{ name: "default", containers: [{ name: "app", imageUri: "nginx:1.25", primary: true, port: 8080${
      fault ? `, environmentVars: [{ name: "SIMULATE_FAULT", value: "${fault}" }]` : ''
    } }] }] }`;

  const rawId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

  async function replacementOf(app: App, id: string) {
    const data = await gql(app, `query($id: ID!) { workload(id: $id) { ... on Workload { status replacement { status } protons { id role artifact { id } } artifact { id } } } }`, { id });
    return data.workload as { status: string; replacement: { status: string } | null; protons: { id: string; role: string; artifact: { id: string } }[]; artifact: { id: string } };
  }

  it.each(PHASES)('finishes with exactly one active proton after a stop in %s', async (phase: Phase) => {
    const { database, drop } = await createDatabase(backend, { persistent: true });
    cleanups.push(drop);
    const cluster = new SimulatedCluster({ timings: acceleratedTimings(20) });
    cleanups.push(async () => cluster.shutdown());
    const failing: { applyExcept?: string; route?: boolean } = {};
    const first = await instance(database, faultyRuntime(new SimulatedProtonRuntime(cluster), failing));
    cleanups.push(() => first.stop());

    const created = await gql(first, `mutation { createWorkload(input: { name: "crash-${phase}", artifact: { name: "v1", spec: ${spec()} } }) { ... on CreateWorkloadPayload { workload { id } } } }`);
    const id: string = created.createWorkload.workload.id;
    const next = await gql(first, `mutation { createArtifact(input: { name: "v2", spec: ${spec(phase === 'initializing' ? 'slow-start' : undefined)} }) { ... on CreateArtifactPayload { artifact { id } } } }`);
    const nextId: string = next.createArtifact.artifact.id;
    await vi.waitFor(async () => expect((await replacementOf(first, id)).status).toBe('RUNNING'), { timeout: 30_000, interval: 20 });

    if (phase === 'submitted') failing.applyExcept = rawId((await replacementOf(first, id)).protons[0]!.id);
    if (phase === 'switching') failing.route = true;
    // Every phase is held until the first process stops in it, so the test waits for a state that
    // stays, never for one that passes by: warm-up and keep-old last an hour, and the second
    // process's clock starts past them.
    const HOLD_SECONDS = 3600;
    await gql(
      first,
      `mutation($id: ID!, $a: ID!, $w: Int!, $k: Int!) { replaceWorkloadArtifact(input: { id: $id, artifactId: $a, warmupSeconds: $w, keepOldVersionSeconds: $k }) { __typename } }`,
      { id, a: nextId, w: phase === 'warming' ? HOLD_SECONDS : 0, k: phase === 'draining' ? HOLD_SECONDS : 0 },
    );
    await vi.waitFor(async () => expect((await replacementOf(first, id)).replacement?.status).toBe(phase.toUpperCase()), { timeout: 30_000, interval: 20 });
    await first.stop();

    const later = () => new Date(Date.now() + (HOLD_SECONDS + 1) * 1000);
    const second = await instance(database, new SimulatedProtonRuntime(cluster), later);
    cleanups.push(() => second.stop());
    const done = await vi.waitFor(
      async () => {
        const w = await replacementOf(second, id);
        expect(w.replacement?.status).toBe('COMPLETED');
        expect(w.protons).toHaveLength(1);
        return w;
      },
      { timeout: 45_000, interval: 20 },
    );
    expect(done).toMatchObject({ status: 'RUNNING', artifact: { id: nextId } });
    expect(done.protons[0]).toMatchObject({ role: 'ACTIVE', artifact: { id: nextId } });
    // Nothing orphaned in the cluster: one proton, and the route points at it.
    const protons = cluster.listProtons({ workloadId: rawId(id) });
    expect(protons.map((p) => p.protonId)).toEqual([rawId(done.protons[0]!.id)]);
    expect(cluster.getRoute(rawId(id))?.protonId).toBe(rawId(done.protons[0]!.id));
  }, 120_000);
});
