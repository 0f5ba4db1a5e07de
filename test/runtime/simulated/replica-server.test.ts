import { Agent, request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RouteResolution } from '../../../src/runtime/route-resolver.js';
import { acceleratedTimings, SimulatedCluster, SimulatedProtonRuntime } from '../../../src/runtime/simulated/index.js';
import { protonSpec } from '../support.js';

type Forward = Extract<RouteResolution, { kind: 'forward' }>;

describe('simulated replicas serving HTTP', () => {
  let cluster: SimulatedCluster;
  let runtime: SimulatedProtonRuntime;

  beforeEach(async () => {
    cluster = new SimulatedCluster({ timings: acceleratedTimings(100), serveHttp: { graceMs: 5000 } });
    runtime = new SimulatedProtonRuntime(cluster, { ownsCluster: true });
    await runtime.start();
  });
  afterEach(() => runtime.stop());

  /** Waits until the workload's route leads to a ready replica (of `protonId`, if given). */
  const routed = (workloadId: string, protonId?: string) =>
    vi.waitFor(
      async () => {
        const r = await runtime.resolveRoute(workloadId);
        if (r.kind !== 'forward' || (protonId && r.protonId !== protonId)) throw new Error(JSON.stringify(r));
        return r;
      },
      { timeout: 5000, interval: 5 },
    );

  it('answers with its workload, proton and replica ids and echoes the request', async () => {
    const spec = protonSpec();
    await runtime.applyProton(spec);
    await runtime.routeWorkload(spec.workloadId, spec.protonId);
    const route = await routed(spec.workloadId);
    expect(route.target.hostname).toBe('127.0.0.1');
    const res = await fetch(new URL('/some/path?a=1', route.target), { method: 'POST', body: 'hello', headers: { 'x-extra': 'yes' } });
    expect(await res.json()).toMatchObject({
      workloadId: spec.workloadId,
      protonId: spec.protonId,
      replica: route.replica,
      method: 'POST',
      path: '/some/path',
      query: '?a=1',
      body: 'hello',
      bodyBytes: 5,
      headers: { 'x-extra': 'yes' },
    });
  });

  it('spreads requests over every ready replica of the routed proton', async () => {
    const spec = protonSpec({ replicas: 3 });
    await runtime.applyProton(spec);
    await runtime.routeWorkload(spec.workloadId, spec.protonId);
    await vi.waitFor(async () => expect((await runtime.listPods({ protonId: spec.protonId })).filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))).toHaveLength(3), { timeout: 5000, interval: 5 });
    const replicas = new Set<string>();
    for (let i = 0; i < 6; i++) replicas.add(((await routed(spec.workloadId)) as Forward).replica!);
    expect(replicas.size).toBe(3);
  });

  it('says why a workload cannot be routed: no route, routed nowhere, no ready replica', async () => {
    const spec = protonSpec();
    expect(await runtime.resolveRoute(spec.workloadId)).toEqual({ kind: 'unroutable', protonId: null, reason: 'NoRoute' });
    await runtime.routeWorkload(spec.workloadId, null);
    expect(await runtime.resolveRoute(spec.workloadId)).toEqual({ kind: 'unroutable', protonId: null, reason: 'RoutedNowhere' });
    await runtime.applyProton(spec);
    await runtime.routeWorkload(spec.workloadId, spec.protonId);
    expect(await runtime.resolveRoute(spec.workloadId)).toEqual({ kind: 'unroutable', protonId: spec.protonId, reason: 'NoReadyReplica' });
  });

  it('finishes a request in flight when its pod is deleted, then stops accepting connections', async () => {
    const spec = protonSpec();
    await runtime.applyProton(spec);
    await runtime.routeWorkload(spec.workloadId, spec.protonId);
    const route = await routed(spec.workloadId);
    const inFlight = fetch(new URL('/slow', route.target), { headers: { 'x-sim-delay-ms': '300' } });
    // Whether the request has arrived or is still connecting, the replica takes it: a deleted
    // pod serves until it is removed, and finishes what it holds then.
    await runtime.deleteProton(spec.protonId);
    expect(await runtime.resolveRoute(spec.workloadId)).toMatchObject({ kind: 'unroutable', reason: 'NoReadyReplica' });
    await vi.waitFor(async () => expect(await runtime.listPods({ protonId: spec.protonId })).toHaveLength(0), { timeout: 5000, interval: 5 });
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.headers.get('connection')).toBe('close');
    await vi.waitFor(() => expect(fetch(new URL('/after', route.target))).rejects.toThrow(), { timeout: 5000, interval: 10 });
  });

  it('answers a request that arrives on an idle keep-alive connection as its pod is removed, and lets the connection go', async () => {
    const spec = protonSpec();
    await runtime.applyProton(spec);
    await runtime.routeWorkload(spec.workloadId, spec.protonId);
    const route = await routed(spec.workloadId);
    // One pooled connection, as the invoke endpoint's forwarder keeps one per replica.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const post = (path: string) =>
      new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
        const req = request(new URL(path, route.target), { method: 'POST', agent, headers: { 'content-type': 'text/plain' } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
        });
        req.on('error', reject);
        req.end('a body: never retried');
      });
    try {
      expect((await post('/first')).status).toBe(200);
      // The connection is idle in the pool; the pod goes, and a request the proxy routed an
      // instant before uses that connection now.
      await runtime.deleteProton(spec.protonId);
      await vi.waitFor(async () => expect(await runtime.listPods({ protonId: spec.protonId })).toHaveLength(0), { timeout: 5000, interval: 1 });
      const late = await post('/late');
      expect(late).toMatchObject({ status: 200, connection: 'close' });
      expect(JSON.parse(late.body)).toMatchObject({ path: '/late', body: 'a body: never retried' });
    } finally {
      agent.destroy();
    }
    await vi.waitFor(() => expect(fetch(new URL('/after', route.target))).rejects.toThrow(), { timeout: 5000, interval: 10 });
  });

  it('cuts its connections when the container crashes, and serves again on a new port after the restart', async () => {
    const spec = protonSpec();
    await runtime.applyProton(spec);
    await runtime.routeWorkload(spec.workloadId, spec.protonId);
    const before = await routed(spec.workloadId);
    const hanging = fetch(new URL('/hang', before.target), { headers: { 'x-sim-behaviour': 'hang' } });
    cluster.killContainer(before.replica!);
    await expect(hanging).rejects.toThrow();
    const after = await routed(spec.workloadId);
    expect(after.replica).toBe(before.replica);
    expect(after.target.port).not.toBe(before.target.port);
    expect((await fetch(after.target)).status).toBe(200);
  });

  it('stops every server when the cluster shuts down', async () => {
    const spec = protonSpec({ replicas: 2 });
    await runtime.applyProton(spec);
    await runtime.routeWorkload(spec.workloadId, spec.protonId);
    const route = await routed(spec.workloadId);
    await runtime.stop();
    expect(cluster.replicaServers!.size).toBe(0);
    await expect(fetch(route.target)).rejects.toThrow();
  });

  it('serves nothing on a cluster built without HTTP (the default of a bare cluster)', async () => {
    const bare = new SimulatedProtonRuntime(new SimulatedCluster({ timings: acceleratedTimings(100) }), { ownsCluster: true });
    await bare.start();
    const spec = protonSpec();
    await bare.applyProton(spec);
    await bare.routeWorkload(spec.workloadId, spec.protonId);
    expect(await bare.resolveRoute(spec.workloadId)).toMatchObject({ kind: 'unroutable', reason: 'Unsupported' });
    await bare.stop();
  });
});
