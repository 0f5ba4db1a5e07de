import { describe, expect, it } from 'vitest';
import type { ArtifactSpec, WorkloadRuntime } from '../../src/domain/artifact-spec.js';
import {
  addedDemand,
  cpuMillicores,
  describeAmount,
  maySetImportance,
  memoryBytes,
  NO_AMOUNTS,
  protonDemand,
  type ImportancePolicy,
  type QuotaLimits,
} from '../../src/domain/quota.js';

const Mi = 2 ** 20;
const container = (name: string, resources?: { cpu?: string; memory?: string }, primary = false) => ({
  name,
  imageUri: 'registry.example.com/app:1',
  primary,
  ...(primary && { port: 8080 }),
  ...(resources && { resources }),
});
const spec = (...containers: ReturnType<typeof container>[]): ArtifactSpec => ({ containerGroups: [{ name: 'default', containers }] });
const runtime = (replicaCount: number, containerResources: WorkloadRuntime['containerResources'] = []): WorkloadRuntime => ({ replicaCount, containerResources });

describe('quantities', () => {
  it.each([
    ['500m', 500],
    ['2', 2000],
    ['0.1', 100],
    ['1.0005', 1001],
    ['1e-1', 100],
  ])('reads CPU %s as %i millicores (rounded up)', (q, m) => expect(cpuMillicores(q)).toBe(m));

  it.each([
    ['128Mi', 128 * Mi],
    ['1Gi', 1024 * Mi],
    ['1G', 1e9],
    ['1.5Ki', 1536],
  ])('reads memory %s as %i bytes', (q, b) => expect(memoryBytes(q)).toBe(b));

  it('answers undefined for a malformed quantity', () => {
    expect(cpuMillicores('lots')).toBeUndefined();
    expect(memoryBytes('1 Gi')).toBeUndefined();
  });
});

describe('protonDemand', () => {
  it.each([
    ['one container with requests, 3 replicas', spec(container('app', { cpu: '250m', memory: '256Mi' }, true)), runtime(3), { replicas: 3, cpu: 750, memory: 768 * Mi }],
    [
      'the runtime override before the artifact\'s request',
      spec(container('app', { cpu: '250m', memory: '256Mi' }, true)),
      runtime(2, [{ containerName: 'app', cpu: '1' }]),
      { replicas: 2, cpu: 2000, memory: 512 * Mi },
    ],
    ['a container without requests at 100m and 128Mi', spec(container('app', undefined, true)), runtime(1), { replicas: 1, cpu: 100, memory: 128 * Mi }],
    [
      'every container of the group, per replica',
      spec(container('app', { cpu: '500m', memory: '1Gi' }, true), container('sidecar', { memory: '64Mi' })),
      runtime(2),
      { replicas: 2, cpu: 1200, memory: 2 * (1024 + 64) * Mi },
    ],
  ])('%s', (_name, s, r, want) => {
    expect(protonDemand(s, r)).toEqual({ workloads: 0, ...want });
  });
});

describe('addedDemand', () => {
  it('counts only what a change adds: a smaller runtime adds nothing, so it passes over a limit lowered since', () => {
    expect(addedDemand({ ...NO_AMOUNTS, replicas: 5, cpu: 5000 }, { ...NO_AMOUNTS, replicas: 2, cpu: 2000 })).toEqual(NO_AMOUNTS);
    expect(addedDemand({ ...NO_AMOUNTS, replicas: 2, cpu: 2000 }, { ...NO_AMOUNTS, replicas: 3, cpu: 1500 })).toEqual({ ...NO_AMOUNTS, replicas: 1 });
  });
});

describe('describeAmount', () => {
  it.each([
    ['workloads', 1, '1 workload'],
    ['replicas', 3, '3 replicas'],
    ['cpu', 1500, '1.5 CPU'],
    ['memory', 512 * Mi, '512Mi memory'],
    ['memory', 1536 * Mi, '1.5Gi memory'],
    ['memory', 1000, '1000 bytes of memory'],
  ] as const)('%s %i reads "%s"', (resource, amount, text) => expect(describeAmount(resource, amount)).toBe(text));
});

describe('maySetImportance', () => {
  const policy: ImportancePolicy = { low: 'everyone', moderate: 'everyone', high: ['ops'], critical: ['platform-admin'] };
  const plain = { roles: [], isPlatformAdmin: false };
  const ops = { roles: ['ops'], isPlatformAdmin: false };
  const admin = { roles: ['platform-admin'], isPlatformAdmin: true };
  it.each([
    ['low', plain, true],
    ['moderate', plain, true],
    ['high', plain, false],
    ['high', ops, true],
    ['critical', ops, false],
    ['critical', admin, true],
    ['high', admin, true],
  ] as const)('%s for %o: %s', (importance, who, want) => expect(maySetImportance(policy, importance, who)).toBe(want));
});
