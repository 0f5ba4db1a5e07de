/** Building a proton spec from an artifact and a runtime, and its template revision. */
import { describe, expect, it } from 'vitest';
import type { ArtifactSpec } from '../../src/domain/artifact-spec.js';
import { protonRevision, protonSpecFromArtifact } from '../../src/runtime/proton-spec.js';
import { ManualTimers } from '../../src/runtime/simulated/index.js';
import { protonSpec } from './support.js';

const artifact: ArtifactSpec = {
  containerGroups: [
    {
      name: 'default',
      containers: [
        {
          name: 'app',
          imageUri: 'registry.example.com/acme/app:1.0',
          primary: true,
          port: 8080,
          entrypoint: ['python', 'serve.py'],
          environmentVars: [{ name: 'MODE', value: 'fast' }],
          readinessProbe: { path: '/ready' },
          resources: { cpu: '500m', memory: '1Gi' },
        },
        { name: 'log-shipper', imageUri: 'registry.example.com/acme/ship:2', primary: false },
      ],
    },
  ],
};

describe('protonSpecFromArtifact', () => {
  it('resolves containers and applies per-container resource overrides of the runtime', () => {
    const spec = protonSpecFromArtifact({
      workloadId: 'w1',
      protonId: 'p1',
      artifact,
      runtime: { replicaCount: 3, containerResources: [{ containerName: 'app', memory: '2Gi' }, { containerName: 'log-shipper', cpu: '50m' }] },
      importance: 'moderate',
    });
    expect(spec).toEqual({
      workloadId: 'w1',
      protonId: 'p1',
      replicas: 3,
      importance: 'moderate',
      containers: [
        {
          name: 'app',
          image: 'registry.example.com/acme/app:1.0',
          primary: true,
          port: 8080,
          entrypoint: ['python', 'serve.py'],
          env: [{ name: 'MODE', value: 'fast' }],
          readinessProbe: { path: '/ready' },
          resources: { cpu: '500m', memory: '2Gi' },
        },
        { name: 'log-shipper', image: 'registry.example.com/acme/ship:2', primary: false, env: [], resources: { cpu: '50m' } },
      ],
    });
  });

  it('takes an explicit replica count, such as zero for a stopped workload', () => {
    const spec = protonSpecFromArtifact({ workloadId: 'w', protonId: 'p', artifact, runtime: { replicaCount: 2 }, importance: 'low', replicas: 0 });
    expect(spec.replicas).toBe(0);
  });
});

describe('protonRevision', () => {
  it('changes with the containers and the restart request, not with replicas or importance', () => {
    const spec = protonSpec();
    const rev = protonRevision(spec);
    expect(rev).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
    expect(protonRevision({ ...spec, replicas: 7, importance: 'critical' })).toBe(rev);
    expect(protonRevision({ ...spec, restartedAt: new Date('2025-01-01T00:00:00Z') })).not.toBe(rev);
    expect(protonRevision({ ...spec, containers: [{ ...spec.containers[0]!, image: 'other:2' }] })).not.toBe(rev);
  });

  it('does not depend on the order of object keys', () => {
    const spec = protonSpec();
    const [c] = spec.containers;
    const reordered = Object.fromEntries(Object.entries(c!).reverse()) as typeof c;
    expect(protonRevision({ ...spec, containers: [reordered!] })).toBe(protonRevision(spec));
  });
});

describe('ManualTimers', () => {
  it('runs callbacks in due order, including those scheduled while advancing, and only when due', () => {
    const timers = new ManualTimers(new Date(0));
    const ran: string[] = [];
    timers.setTimeout(() => ran.push('b@20'), 20);
    timers.setTimeout(() => {
      ran.push('a@10');
      timers.setTimeout(() => ran.push('c@15'), 5);
    }, 10);
    const cancelled = timers.setTimeout(() => ran.push('never'), 12);
    timers.clearTimeout(cancelled);
    timers.advance(19);
    expect(ran).toEqual(['a@10', 'c@15']);
    expect(timers.now().getTime()).toBe(19);
    expect(timers.nextDueIn()).toBe(1);
    expect(timers.step()).toBe(true);
    expect(ran).toEqual(['a@10', 'c@15', 'b@20']);
    expect(timers.step()).toBe(false);
  });
});
