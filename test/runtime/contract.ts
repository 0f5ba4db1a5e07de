/**
 * The `ProtonRuntime` contract: what every adapter must do, written against the port alone so
 * the simulated cluster and the Kubernetes adapter run the same suite. Waits are on observable
 * effects with deadlines (never sleeps); ids are fresh per test, so a shared cluster is fine.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { observePod } from '../../src/domain/pod-observation.js';
import { ANNOTATIONS, LABELS, podImportance } from '../../src/runtime/conventions.js';
import type { ProtonRuntime, ProtonSpec } from '../../src/runtime/proton-runtime.js';
import {
  RuntimeConflictError,
  RuntimeInvalidError,
  RuntimeNotFoundError,
} from '../../src/runtime/proton-runtime.js';
import { protonRevision } from '../../src/runtime/proton-spec.js';
import { PodTracker, isDeleting, isServing, newId, primaryContainer, protonSpec, withEnv } from './support.js';

/** One runtime for one test, and how to release it. */
export interface RuntimeUnderTest {
  readonly runtime: ProtonRuntime;
  /** Releases the runtime (and whatever it created, for a shared cluster). */
  dispose(): Promise<void>;
}

/** Tuning of the contract for an adapter. */
export interface ContractOptions {
  /** Deadline of each wait for the cluster to converge; default 10 s. */
  readonly convergeTimeoutMs?: number;
}

/** Registers the contract suite for one adapter; `makeRuntime` is called per test and must return a started runtime. */
export function describeProtonRuntimeContract(
  name: string,
  makeRuntime: () => Promise<RuntimeUnderTest>,
  options: ContractOptions = {},
): void {
  const timeout = options.convergeTimeoutMs ?? 10_000;
  const until = (check: () => void | Promise<void>) => vi.waitFor(check, { timeout, interval: 10 });

  describe(`ProtonRuntime contract: ${name}`, () => {
    let subject: RuntimeUnderTest;
    let runtime: ProtonRuntime;
    const created: string[] = [];
    const trackers: PodTracker[] = [];

    beforeEach(async () => {
      subject = await makeRuntime();
      runtime = subject.runtime;
      created.length = 0;
      trackers.length = 0;
    });

    afterEach(async () => {
      for (const t of trackers) t.close();
      for (const protonId of created) await runtime.deleteProton(protonId).catch(() => undefined);
      await subject.dispose();
    });

    /** Applies a spec and remembers the proton for cleanup. */
    async function apply(spec: ProtonSpec) {
      if (!created.includes(spec.protonId)) created.push(spec.protonId);
      return runtime.applyProton(spec);
    }

    function track(workloadId: string, replay = false): PodTracker {
      const tracker = new PodTracker(runtime, { workloadId }, replay);
      trackers.push(tracker);
      return tracker;
    }

    async function servingPods(spec: ProtonSpec): Promise<V1Pod[]> {
      return (await runtime.listPods({ protonId: spec.protonId })).filter(isServing);
    }

    /** Waits until the proton has exactly `count` pods, all serving, none being deleted. */
    async function untilServing(spec: ProtonSpec, count: number): Promise<V1Pod[]> {
      let pods: readonly V1Pod[] = [];
      await until(async () => {
        pods = await runtime.listPods({ protonId: spec.protonId });
        expect(pods.filter(isServing)).toHaveLength(count);
        expect(pods).toHaveLength(count);
      });
      return [...pods];
    }

    it('reports itself synced once started', () => {
      expect(runtime.isSynced()).toBe(true);
    });

    it('creates the desired pods labelled with workload, proton and importance, naming the primary container', async () => {
      const spec = protonSpec({ replicas: 2, importance: 'high' });
      await apply(spec);
      await until(async () => expect(await runtime.listPods({ protonId: spec.protonId })).toHaveLength(2));
      for (const pod of await runtime.listPods({ protonId: spec.protonId })) {
        expect(pod.metadata?.labels).toMatchObject({
          [LABELS.workloadId]: spec.workloadId,
          [LABELS.protonId]: spec.protonId,
          [LABELS.importance]: 'high',
          [LABELS.revision]: protonRevision(spec),
        });
        expect(pod.metadata?.annotations?.[ANNOTATIONS.defaultContainer]).toBe('app');
        const app = pod.spec?.containers.find((c) => c.name === 'app');
        expect(app?.image).toBe(spec.containers[0]!.image);
        expect(app?.env).toContainEqual({ name: 'GREETING', value: 'hello' });
        expect(app?.ports?.[0]?.containerPort).toBe(8080);
        expect(app?.readinessProbe?.httpGet?.path).toBe('/healthz');
        expect(app?.resources?.requests).toMatchObject({ cpu: '100m', memory: '64Mi' });
      }
    });

    it('brings every pod of a new proton to ready, seen through the watch', async () => {
      const spec = protonSpec({ replicas: 2 });
      const tracker = track(spec.workloadId);
      await apply(spec);
      await untilServing(spec, 2);
      await until(() => expect(tracker.serving()).toHaveLength(2));
      expect(tracker.events[0]?.type).toBe('added');
      const proton = await runtime.getProton(spec.protonId);
      expect(proton).toMatchObject({ workloadId: spec.workloadId, replicas: 2, revision: protonRevision(spec) });
      await until(async () => expect((await runtime.getProton(spec.protonId))?.status.readyReplicas).toBe(2));
    });

    it('applies the same spec twice without touching its pods', async () => {
      const spec = protonSpec({ replicas: 2 });
      const first = await apply(spec);
      const before = await untilServing(spec, 2);
      const second = await apply(spec);
      expect(second.revision).toBe(first.revision);
      expect(second.generation).toBe(first.generation);
      const after = await runtime.listPods({ protonId: spec.protonId });
      expect(after.map((p) => p.metadata?.uid).sort()).toEqual(before.map((p) => p.metadata?.uid).sort());
    });

    it('scales a proton up, then down with the surplus pods deleted gracefully', async () => {
      const spec = protonSpec({ replicas: 1 });
      const tracker = track(spec.workloadId);
      await apply(spec);
      await untilServing(spec, 1);
      expect((await runtime.scaleProton(spec.protonId, 3)).replicas).toBe(3);
      await untilServing(spec, 3);
      await runtime.scaleProton(spec.protonId, 1);
      await untilServing(spec, 1);
      const deleted = tracker.events.filter((e) => e.type === 'deleted').map((e) => e.pod.metadata!.name!);
      expect(deleted).toHaveLength(2);
      for (const name of deleted) {
        const sawDeletionTimestamp = tracker.events.some(
          (e) => e.type === 'modified' && e.pod.metadata?.name === name && isDeleting(e.pod),
        );
        expect(sawDeletionTimestamp, `pod ${name} was deleted gracefully`).toBe(true);
      }
    });

    it('scales a proton to zero and back', async () => {
      const spec = protonSpec({ replicas: 2 });
      await apply(spec);
      await untilServing(spec, 2);
      await runtime.scaleProton(spec.protonId, 0);
      await until(async () => expect(await runtime.listPods({ protonId: spec.protonId })).toHaveLength(0));
      expect((await runtime.getProton(spec.protonId))?.replicas).toBe(0);
      await runtime.scaleProton(spec.protonId, 1);
      await untilServing(spec, 1);
    });

    it('rolls pods to a new revision when the containers change, never below the desired ready pods', async () => {
      const spec = protonSpec({ replicas: 2 });
      const tracker = track(spec.workloadId);
      const first = await apply(spec);
      const oldPods = await untilServing(spec, 2);
      await until(() => expect(tracker.serving()).toHaveLength(2));
      const fewestServing: number[] = [];
      const probe = runtime.watchPods(() => fewestServing.push(tracker.serving().length));
      const updated = withEnv(spec, [{ name: 'GREETING', value: 'bonjour' }]);
      const applied = await apply(updated);
      expect(applied.revision).not.toBe(protonRevision(spec));
      await until(async () => {
        const pods = await untilServing(spec, 2);
        expect(pods.every((p) => p.metadata?.labels?.[LABELS.revision] === applied.revision)).toBe(true);
      });
      probe();
      const oldUids = new Set(oldPods.map((p) => p.metadata?.uid));
      const now = await runtime.listPods({ protonId: spec.protonId });
      expect(now.some((p) => oldUids.has(p.metadata?.uid))).toBe(false);
      expect(now[0]?.spec?.containers[0]?.env).toContainEqual({ name: 'GREETING', value: 'bonjour' });
      expect(Math.min(...fewestServing)).toBeGreaterThanOrEqual(2);
      expect(applied.generation).toBeGreaterThan(first.generation);
    });

    it('rolls every pod when a restart is requested', async () => {
      const spec = protonSpec({ replicas: 2 });
      await apply(spec);
      const before = await untilServing(spec, 2);
      const restarted = { ...spec, restartedAt: new Date('2025-06-01T12:00:00Z') };
      const applied = await apply(restarted);
      expect(applied.revision).not.toBe(protonRevision(spec));
      await until(async () => {
        const pods = await untilServing(spec, 2);
        expect(pods.every((p) => p.metadata?.labels?.[LABELS.revision] === applied.revision)).toBe(true);
      });
      const uids = new Set(before.map((p) => p.metadata?.uid));
      expect((await runtime.listPods({ protonId: spec.protonId })).some((p) => uids.has(p.metadata?.uid))).toBe(false);
    });

    it('changes neither revision nor pods when only replicas or importance change', async () => {
      const spec = protonSpec({ replicas: 1 });
      const first = await apply(spec);
      const [pod] = await untilServing(spec, 1);
      const second = await apply({ ...spec, replicas: 2, importance: 'critical' });
      expect(second.revision).toBe(first.revision);
      await untilServing(spec, 2);
      expect((await runtime.listPods({ protonId: spec.protonId })).map((p) => p.metadata?.uid)).toContain(pod!.metadata?.uid);
    });

    it('relabels running pods and protons at once when importance changes, replacing no pod', async () => {
      const spec = protonSpec({ replicas: 2, importance: 'low' });
      const other = protonSpec({ workloadId: spec.workloadId, replicas: 1, importance: 'low' });
      await apply(spec);
      await apply(other);
      const before = [...(await untilServing(spec, 2)), ...(await untilServing(other, 1))];
      await runtime.setImportance(spec.workloadId, 'critical');
      await until(async () => {
        const pods = await runtime.listPods({ workloadId: spec.workloadId });
        expect(pods.map(podImportance)).toEqual(['critical', 'critical', 'critical']);
      });
      const after = await runtime.listPods({ workloadId: spec.workloadId });
      expect(after.map((p) => p.metadata?.uid).sort()).toEqual(before.map((p) => p.metadata?.uid).sort());
      const protons = await runtime.listProtons({ workloadId: spec.workloadId });
      expect(protons.map((p) => p.importance)).toEqual(['critical', 'critical']);
    });

    it('deletes a proton gracefully: each pod gets a deletion timestamp, then the pods and the proton are gone', async () => {
      const spec = protonSpec({ replicas: 2 });
      const tracker = track(spec.workloadId);
      await apply(spec);
      await untilServing(spec, 2);
      await until(() => expect(tracker.serving()).toHaveLength(2));
      await runtime.deleteProton(spec.protonId);
      await until(async () => {
        expect(await runtime.listPods({ protonId: spec.protonId })).toHaveLength(0);
        expect(await runtime.getProton(spec.protonId)).toBeUndefined();
      });
      await until(() => expect(tracker.pods.size).toBe(0));
      for (const name of tracker.podNames()) {
        const states = tracker.statesOf(name);
        expect(states.slice(-2), `pod ${name}`).toEqual(['stopping', 'gone']);
      }
      await runtime.deleteProton(spec.protonId);
    });

    it('treats deleting a proton that does not exist as done', async () => {
      await expect(runtime.deleteProton(newId())).resolves.toBeUndefined();
    });

    it('switches a workload route in one change, to no proton, and removes it', async () => {
      const workloadId = newId();
      const [a, b] = [newId(), newId()];
      expect(await runtime.getRoute(workloadId)).toBeUndefined();
      expect(await runtime.routeWorkload(workloadId, a)).toEqual({ workloadId, protonId: a });
      expect(await runtime.getRoute(workloadId)).toEqual({ workloadId, protonId: a });
      await runtime.routeWorkload(workloadId, b);
      expect(await runtime.getRoute(workloadId)).toEqual({ workloadId, protonId: b });
      await runtime.routeWorkload(workloadId, null);
      expect(await runtime.getRoute(workloadId)).toEqual({ workloadId, protonId: null });
      await runtime.deleteRoute(workloadId);
      expect(await runtime.getRoute(workloadId)).toBeUndefined();
      await expect(runtime.deleteRoute(workloadId)).resolves.toBeUndefined();
    });

    it('refuses to scale an unknown proton with a not-found error', async () => {
      await expect(runtime.scaleProton(newId(), 1)).rejects.toBeInstanceOf(RuntimeNotFoundError);
    });

    it('refuses a spec without exactly one primary container as invalid', async () => {
      const spec = protonSpec({ containers: [primaryContainer({ primary: false })] });
      await expect(runtime.applyProton(spec)).rejects.toBeInstanceOf(RuntimeInvalidError);
      await expect(runtime.applyProton(protonSpec({ replicas: -1 }))).rejects.toBeInstanceOf(RuntimeInvalidError);
      await expect(runtime.getProton(spec.protonId)).resolves.toBeUndefined();
    });

    it('refuses to reuse a proton id for another workload as a conflict', async () => {
      const spec = protonSpec();
      await apply(spec);
      const err = await runtime.applyProton({ ...spec, workloadId: newId() }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RuntimeConflictError);
      expect((err as RuntimeConflictError).retryable).toBe(true);
    });

    it('lists the protons of a workload with their pod counts', async () => {
      const spec = protonSpec({ replicas: 2 });
      const candidate = protonSpec({ workloadId: spec.workloadId, replicas: 1 });
      await apply(spec);
      await apply(candidate);
      await untilServing(spec, 2);
      await untilServing(candidate, 1);
      await until(async () => {
        const protons = await runtime.listProtons({ workloadId: spec.workloadId });
        expect(protons.map((p) => [p.protonId, p.replicas, p.status.readyReplicas]).sort()).toEqual(
          [[spec.protonId, 2, 2], [candidate.protonId, 1, 1]].sort(),
        );
      });
      expect(await runtime.listProtons({ workloadId: newId() })).toEqual([]);
    });

    it('delivers watch events that agree with a fresh list once the cluster is quiet', async () => {
      const spec = protonSpec({ replicas: 3 });
      const tracker = track(spec.workloadId);
      await apply(spec);
      await untilServing(spec, 3);
      await runtime.scaleProton(spec.protonId, 2);
      await apply(withEnv({ ...spec, replicas: 2 }, [{ name: 'GREETING', value: 'hej' }]));
      await until(async () => {
        const listed = await runtime.listPods({ workloadId: spec.workloadId });
        expect(listed.filter(isServing)).toHaveLength(2);
        expect(listed).toHaveLength(2);
        const watched = [...tracker.pods.values()];
        const key = (p: V1Pod) => `${p.metadata?.name}@${p.metadata?.resourceVersion}`;
        expect(watched.map(key).sort()).toEqual(listed.map(key).sort());
      });
    });

    it('replays the existing pods to a late subscriber', async () => {
      const spec = protonSpec({ replicas: 2 });
      await apply(spec);
      await untilServing(spec, 2);
      const late = track(spec.workloadId, true);
      await until(() => expect(late.pods.size).toBe(2));
      expect(late.events.every((e) => e.type === 'added' || e.type === 'modified')).toBe(true);
    });

    it('hands out pods that cannot be mutated', async () => {
      const spec = protonSpec();
      await apply(spec);
      const [pod] = await untilServing(spec, 1);
      expect(() => {
        (pod!.metadata!.labels as Record<string, string>)['tampered'] = 'yes';
      }).toThrow();
      expect(observePod(pod!).servingReady).toBe(true);
    });

    it('delivers no event to a watch after it is unsubscribed', async () => {
      const spec = protonSpec();
      const tracker = track(spec.workloadId);
      tracker.close();
      await apply(spec);
      await untilServing(spec, 1);
      expect(tracker.events).toHaveLength(0);
    });

    it('reports proton pod counts that agree with its pods', async () => {
      const spec = protonSpec({ replicas: 2 });
      await apply(spec);
      await untilServing(spec, 2);
      await until(async () => {
        const proton = await runtime.getProton(spec.protonId);
        expect(proton?.status).toEqual({ replicas: 2, updatedReplicas: 2, readyReplicas: (await servingPods(spec)).length });
      });
    });
  });
}
