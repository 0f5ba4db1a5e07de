/** Harness of the invoke tests: an app on the simulated cluster, serving HTTP, and its workloads. */
import { vi } from 'vitest';
import {
  CreateArtifactDocument,
  CreateWorkloadDocument,
  WorkloadStateDocument,
  type WorkloadStateQuery,
} from '../graphql/generated/graphql.js';
import type { Backend } from '../support/backends.js';
import { containerInput, specInput } from '../support/fixtures.js';
import { OffsetClock } from '../support/offset-clock.js';
import { startTestApp, tokenFor, type TestApp, type TestSubject } from '../support/test-app.js';

export type WorkloadView = Extract<WorkloadStateQuery['workload'], { __typename: 'Workload' }>;

/** The environment of an invoke test app: a fast simulated cluster, quick batches, no access cache. */
export const INVOKE_TEST_ENV = {
  SIMULATED_SPEED: '50',
  CONTROLLER_TICK_MS: '25',
  INVOKE_STATISTICS_FLUSH_MS: '50',
  INVOKE_ACCESS_CACHE_MS: '0',
  PROGRESS_DEADLINE_SECONDS: '30',
};

/** An invoke test app, listening on a free port. */
export interface InvokeTestApp extends TestApp {
  readonly baseUrl: string;
  readonly offsetClock: OffsetClock;
}

/** Starts an app with the controller on `backend` and listens on port 0. */
export async function startInvokeApp(backend: Backend, env: Record<string, string> = {}): Promise<InvokeTestApp> {
  const offsetClock = new OffsetClock();
  const t = await startTestApp(backend, { ...INVOKE_TEST_ENV, ...env }, { controller: true, clock: offsetClock.read });
  const baseUrl = await t.app.start();
  return Object.assign(t, { baseUrl, offsetClock });
}

let n = 0;

/** Creates a draft artifact and returns its id. */
export async function createArtifact(t: TestApp): Promise<string> {
  n += 1;
  const { createArtifact } = await t.exec(CreateArtifactDocument, { input: { name: `invoke-art-${n}`, spec: specInput([containerInput()]) as never } });
  if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(createArtifact.__typename);
  return createArtifact.artifact.id;
}

/** Creates a workload on a new draft artifact (as the default caller) and waits until it runs. */
export async function createRunningWorkload(t: TestApp, options: { replicas?: number } = {}): Promise<WorkloadView> {
  const artifactId = await createArtifact(t);
  n += 1;
  const { createWorkload } = await t.exec(CreateWorkloadDocument, {
    input: { name: `invoke-${n}`, artifactId, runtime: { replicaCount: options.replicas ?? 1 } },
  });
  if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
  return waitForWorkload(t, createWorkload.workload.id, (w) => w.status === 'RUNNING');
}

/** The workload as the default caller sees it. */
export async function viewWorkload(t: TestApp, id: string): Promise<WorkloadView> {
  const { workload } = await t.exec(WorkloadStateDocument, { id });
  if (workload.__typename !== 'Workload') throw new Error(workload.__typename);
  return workload;
}

/** Polls until the workload satisfies `predicate`. */
export function waitForWorkload(t: TestApp, id: string, predicate: (w: WorkloadView) => boolean, timeout = 20_000): Promise<WorkloadView> {
  return vi.waitFor(
    async () => {
      const w = await viewWorkload(t, id);
      if (!predicate(w)) throw new Error(`still ${w.status}; replacement ${w.replacement?.status ?? '-'}`);
      return w;
    },
    { timeout, interval: 20 },
  );
}

/**
 * The workload's endpoint on the app under test. The public base URL of a test app names port 0
 * (PORT=0 picks a free one), so the path is joined to the address the app really listens on.
 */
export function endpointOf(t: InvokeTestApp, w: { id: string }): string {
  return `${t.baseUrl}/endpoints/workloads/${uuidOf(w.id)}/`;
}

/** The UUID inside a global id (`base64("Type:uuid")`); a UUID stays as it is. */
export function uuidOf(id: string): string {
  if (/^[0-9a-f-]{36}$/i.test(id)) return id;
  return Buffer.from(id, 'base64').toString('utf8').split(':')[1] ?? id;
}

/** The Authorization header of a test subject (default: the workloads' creator, "developer"). */
export async function bearer(subject: TestSubject = { sub: 'developer' }): Promise<string> {
  return `Bearer ${await tokenFor(subject)}`;
}

/** What a simulated replica echoes. */
export interface Echo {
  workloadId: string;
  protonId: string;
  replica: string;
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  bodyBytes: number;
  bodySha256: string;
}
