/**
 * The Kubernetes manifests of `deploy/`, read the way `kubectl apply -f deploy/` reads them:
 * every `.yaml`/`.yml`/`.json` file directly in the directory, in lexical order, each document
 * an object.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  loadAllYaml,
  type KubernetesObject,
  type V1ClusterRole,
  type V1ConfigMap,
  type V1Deployment,
  type V1Namespace,
  type V1PodDisruptionBudget,
  type V1PriorityClass,
  type V1Role,
  type V1RoleBinding,
  type V1Service,
  type V1ServiceAccount,
} from '@kubernetes/client-node';

/** The repository's root directory. */
export const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The directory users apply. */
export const deployDir = path.join(repositoryRoot, 'deploy');

/** One object of a manifest file. */
export interface ManifestObject extends KubernetesObject {
  readonly file: string;
}

/** The files `kubectl apply -f deploy/` reads, in its order. */
export function manifestFiles(): string[] {
  return readdirSync(deployDir)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort();
}

/** Every object of every manifest file, in apply order. */
export function loadManifests(): ManifestObject[] {
  return manifestFiles().flatMap((file) =>
    loadAllYaml(readFileSync(path.join(deployDir, file), 'utf8'))
      .filter((doc: unknown) => doc !== null && doc !== undefined)
      .map((doc: KubernetesObject) => ({ ...doc, file })),
  );
}

/** The one object of a kind (and name, when several share the kind); throws if missing. */
export function manifest<T>(objects: readonly ManifestObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''} in deploy/, found ${found.length}`);
  return found[0] as T;
}

/** The objects of deploy/ by role. */
export function deployment(objects: readonly ManifestObject[] = loadManifests()) {
  return {
    namespaces: objects.filter((o) => o.kind === 'Namespace') as V1Namespace[],
    serviceAccount: manifest<V1ServiceAccount>(objects, 'ServiceAccount'),
    role: manifest<V1Role>(objects, 'Role'),
    roleBinding: manifest<V1RoleBinding>(objects, 'RoleBinding'),
    clusterRole: manifest<V1ClusterRole>(objects, 'ClusterRole'),
    clusterRoleBinding: manifest<V1RoleBinding>(objects, 'ClusterRoleBinding'),
    configMap: manifest<V1ConfigMap>(objects, 'ConfigMap'),
    deployment: manifest<V1Deployment>(objects, 'Deployment'),
    service: manifest<V1Service>(objects, 'Service'),
    podDisruptionBudget: manifest<V1PodDisruptionBudget>(objects, 'PodDisruptionBudget'),
    priorityClasses: objects.filter((o) => o.kind === 'PriorityClass') as unknown as V1PriorityClass[],
  };
}

/** The example Secret's variables (`deploy/secret.example.env`), as `kubectl create secret --from-env-file` reads them. */
export function exampleSecretEnv(): Record<string, string> {
  const text = readFileSync(path.join(deployDir, 'secret.example.env'), 'utf8');
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`secret.example.env: not KEY=value: ${line}`);
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}
