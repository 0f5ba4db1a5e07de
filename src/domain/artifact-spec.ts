/**
 * What an artifact runs and how a workload runs it: the container spec, the workload runtime,
 * and the validation rules of both. Pure: the schemas are zod values, the limits are parameters.
 */
import { z } from 'zod';
import { TEXT_LIMITS, textSchema } from './validate.js';

/** The only container group a service artifact has (SPEC.md section 1). */
export const DEFAULT_CONTAINER_GROUP = 'default';

// Grammar of distribution/reference (the OCI image reference every registry accepts).
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const IMAGE_REFERENCE = new RegExp(`^(${NAME})(?::${TAG})?(?:@${DIGEST})?$`);
const MAX_IMAGE_NAME_LENGTH = 255;

/** Whether `ref` is a valid OCI image reference (`[registry[:port]/]path[:tag][@digest]`). */
export function isImageReference(ref: string): boolean {
  const match = IMAGE_REFERENCE.exec(ref);
  if (!match) return false;
  const name = match[1] ?? '';
  return name.length <= MAX_IMAGE_NAME_LENGTH;
}

// Kubernetes resource.Quantity: a decimal with an optional binary/decimal SI suffix or exponent.
const QUANTITY = /^\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)((?:[KMGTPE]i)|[numkMGTPE]|(?:[eE][+-]?[0-9]+))?$/;
const SUFFIX_FACTORS: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** The numeric value of a Kubernetes quantity such as `500m` or `2Gi`, or undefined if malformed. */
export function parseQuantity(quantity: string): number | undefined {
  const match = QUANTITY.exec(quantity);
  if (!match) return undefined;
  const base = Number(match[1]);
  const suffix = match[2] ?? '';
  // An exponent (`1e3`, `5E-1`), not the suffix exa (`1E` is 10^18).
  if (/^[eE][-+]?[0-9]/.test(suffix)) return Number(match[1] + suffix);
  const factor = SUFFIX_FACTORS[suffix];
  return factor === undefined ? undefined : base * factor;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Kubernetes' IsEnvVarName: letters, digits, '_', '-', '.'; not starting with a digit.
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/**
 * The largest request one container may make: 10^12 cores, 8Pi of memory. Past these a quota's
 * sums would lose whole millicores and bytes (a double holds integers exactly up to 2^53), and no
 * node offers them.
 */
export const MAX_QUANTITY = Object.freeze({ cpu: { value: 1e12, text: '1T' }, memory: { value: 2 ** 53, text: '8Pi' } });

const positiveQuantity = (what: 'cpu' | 'memory') =>
  textSchema('line', TEXT_LIMITS.quantity)
    .refine((q) => (parseQuantity(q) ?? 0) > 0, {
      message: `must be a positive Kubernetes quantity (e.g. ${what === 'cpu' ? '"500m" or "2"' : '"512Mi" or "2Gi"'})`,
    })
    .refine((q) => !((parseQuantity(q) ?? 0) > MAX_QUANTITY[what].value), { message: `must be at most ${MAX_QUANTITY[what].text}` });

/** Container resource requests: CPU and memory as Kubernetes quantities. */
export const resourcesSchema = z.strictObject({
  cpu: positiveQuantity('cpu').nullish(),
  memory: positiveQuantity('memory').nullish(),
});

const portSchema = z.int().min(1024, 'must be between 1024 and 65535').max(65535, 'must be between 1024 and 65535');

/** An HTTP probe of a container. */
export const probeSchema = z.strictObject({
  path: textSchema('line', TEXT_LIMITS.probePath).startsWith('/', 'must start with "/"').refine((p) => !/\s/.test(p), 'must not contain whitespace'),
  port: portSchema.nullish(),
  initialDelaySeconds: z.int().min(0).max(3600).nullish(),
  periodSeconds: z.int().min(1).max(3600).nullish(),
  timeoutSeconds: z.int().min(1).max(3600).nullish(),
  failureThreshold: z.int().min(1).max(100).nullish(),
});

/** One container of a container group. */
export const containerSchema = z.strictObject({
  name: z.string().max(TEXT_LIMITS.containerName, { message: `must be at most ${TEXT_LIMITS.containerName} characters`, abort: true }).regex(DNS_LABEL, 'must be a DNS label: lower-case letters, digits and "-", starting and ending with a letter or digit'),
  imageUri: textSchema('line', TEXT_LIMITS.imageUri).refine(isImageReference, 'must be a valid OCI image reference such as "registry.example.com/team/app:1.2"'),
  primary: z.boolean(),
  port: portSchema.nullish(),
  entrypoint: z.array(textSchema('multiline', TEXT_LIMITS.entrypointItem)).max(64).nullish(),
  environmentVars: z
    .array(
      z.strictObject({
        name: textSchema('line', TEXT_LIMITS.environmentVariableName).min(1).regex(ENV_VAR_NAME, 'must consist of letters, digits, "_", "-" or "." and not start with a digit'),
        value: textSchema('multiline', TEXT_LIMITS.environmentVariableValue),
      }),
    )
    .max(200)
    .nullish(),
  readinessProbe: probeSchema.nullish(),
  livenessProbe: probeSchema.nullish(),
  startupProbe: probeSchema.nullish(),
  resources: resourcesSchema.nullish(),
});

function duplicates(values: string[]): Set<string> {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const v of values) (seen.has(v) ? dup : seen).add(v);
  return dup;
}

/** A container group: exactly one primary container, and only the primary has a port. */
export const containerGroupSchema = z
  .strictObject({
    name: z.literal(DEFAULT_CONTAINER_GROUP, `must be "${DEFAULT_CONTAINER_GROUP}"`),
    containers: z.array(containerSchema).min(1, 'must hold at least one container').max(10, 'must hold at most 10 containers'),
  })
  .superRefine((group, ctx) => {
    const primaries = group.containers.filter((c) => c.primary).length;
    if (primaries !== 1) {
      ctx.addIssue({ code: 'custom', path: ['containers'], message: `exactly one container must be primary (found ${primaries})` });
    }
    group.containers.forEach((c, i) => {
      if (c.primary && c.port == null) {
        ctx.addIssue({ code: 'custom', path: ['containers', i, 'port'], message: 'the primary container must have a port' });
      }
      if (!c.primary && c.port != null) {
        ctx.addIssue({ code: 'custom', path: ['containers', i, 'port'], message: 'only the primary container may have a port' });
      }
      const envDup = duplicates((c.environmentVars ?? []).map((e) => e.name));
      (c.environmentVars ?? []).forEach((e, j) => {
        if (envDup.has(e.name)) {
          ctx.addIssue({ code: 'custom', path: ['containers', i, 'environmentVars', j, 'name'], message: `duplicate environment variable "${e.name}"` });
        }
      });
    });
    const nameDup = duplicates(group.containers.map((c) => c.name));
    group.containers.forEach((c, i) => {
      if (nameDup.has(c.name)) {
        ctx.addIssue({ code: 'custom', path: ['containers', i, 'name'], message: `duplicate container name "${c.name}"` });
      }
    });
  });

/** The spec of a service artifact: one container group named `default`. */
export const artifactSpecSchema = z.strictObject({
  containerGroups: z.array(containerGroupSchema).length(1, `must hold exactly one container group, "${DEFAULT_CONTAINER_GROUP}"`),
});

export type ArtifactSpec = z.infer<typeof artifactSpecSchema>;
export type ContainerSpec = z.infer<typeof containerSchema>;
export type ProbeSpec = z.infer<typeof probeSchema>;
export type ResourceSpec = z.infer<typeof resourcesSchema>;

/** A human-facing name: 1-255 characters, not blank, no control characters. */
export const nameSchema = textSchema('line', TEXT_LIMITS.name)
  .min(1, { message: 'must not be empty', abort: true })
  .refine((s) => s.trim().length > 0, 'must not be blank');

/** A free-text description of at most 10 000 characters; tabs and line breaks allowed, other control characters not. */
export const descriptionSchema = textSchema('multiline', TEXT_LIMITS.description);

/** Limits that the operator configures. */
export interface RuntimeLimits {
  maxReplicas: number;
}

/** How a workload runs its artifact: replica count and per-container resource overrides. */
export const workloadRuntimeSchema = (limits: RuntimeLimits) =>
  z.strictObject({
    replicaCount: z
      .int()
      .min(1, 'must be at least 1')
      .max(limits.maxReplicas, `must be at most ${limits.maxReplicas} (the configured maximum)`),
    containerResources: z
      .array(
        z.strictObject({
          containerName: textSchema('line', TEXT_LIMITS.containerName).min(1),
          cpu: positiveQuantity('cpu').nullish(),
          memory: positiveQuantity('memory').nullish(),
        }),
      )
      .max(10)
      .nullish(),
  });

export type WorkloadRuntime = z.infer<ReturnType<typeof workloadRuntimeSchema>>;

/** The runtime a workload gets when it names none. */
export const DEFAULT_RUNTIME: WorkloadRuntime = { replicaCount: 1, containerResources: [] };

/** Problems with a runtime that only show against the artifact it runs (unknown container names). */
export function runtimeIssuesAgainstSpec(
  runtime: WorkloadRuntime,
  spec: ArtifactSpec,
): { path: (string | number)[]; message: string }[] {
  const names = new Set(spec.containerGroups.flatMap((g) => g.containers.map((c) => c.name)));
  return (runtime.containerResources ?? []).flatMap((r, i) =>
    names.has(r.containerName)
      ? []
      : [{ path: ['containerResources', i, 'containerName'], message: `no container named "${r.containerName}" in the artifact (has: ${[...names].join(', ')})` }],
  );
}

/** The input that creates an artifact. */
export const newArtifactSchema = z.object({
  name: nameSchema,
  description: descriptionSchema.nullish(),
  spec: artifactSpecSchema,
});

/** A change to a draft artifact; absent fields stay as they are. */
export const artifactPatchSchema = z.object({
  name: nameSchema.nullish(),
  description: descriptionSchema.nullish(),
  spec: artifactSpecSchema.nullish(),
});

/** The input that clones an artifact into a new draft. */
export const cloneArtifactSchema = z.object({
  name: nameSchema.nullish(),
  description: descriptionSchema.nullish(),
});

const IMPORTANCE_VALUES = ['low', 'moderate', 'high', 'critical'] as const;

/** The input that creates a workload: exactly one of `artifactId` or an inline `artifact`. */
export const newWorkloadSchema = (limits: RuntimeLimits) =>
  z
    .object({
      name: nameSchema,
      description: descriptionSchema.nullish(),
      importance: z.enum(IMPORTANCE_VALUES).nullish(),
      artifactId: textSchema('line', TEXT_LIMITS.id).nullish(),
      artifact: newArtifactSchema.nullish(),
      runtime: workloadRuntimeSchema(limits).nullish(),
    })
    .superRefine((input, ctx) => {
      if ((input.artifactId == null) === (input.artifact == null)) {
        ctx.addIssue({ code: 'custom', path: ['artifactId'], message: 'give exactly one of "artifactId" or an inline "artifact"' });
      }
    });

/** A change to a workload's metadata; absent fields stay as they are. */
export const workloadPatchSchema = z.object({
  name: nameSchema.nullish(),
  description: descriptionSchema.nullish(),
  importance: z.enum(IMPORTANCE_VALUES).nullish(),
});

/** The options of a replace: the new artifact, an optional new runtime, and the waits around the switch. */
export const replaceOptionsSchema = (limits: RuntimeLimits) =>
  z.object({
    artifactId: textSchema('line', TEXT_LIMITS.id).min(1),
    runtime: workloadRuntimeSchema(limits).nullish(),
    warmupSeconds: z.int().min(0).max(86_400, 'must be at most 86400 (a day)').nullish(),
    keepOldVersionSeconds: z.int().min(0).max(86_400, 'must be at most 86400 (a day)').nullish(),
  });
