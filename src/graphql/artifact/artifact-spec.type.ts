import type { ArtifactSpec, ContainerSpec, ProbeSpec, ResourceSpec, WorkloadRuntime } from '../../domain/artifact-spec.js';
import { builder } from '../builder.js';
import { TEXT_LIMITS, textDescription } from '../common/text.js';

type ContainerGroupSpec = ArtifactSpec['containerGroups'][number];
type EnvVar = NonNullable<ContainerSpec['environmentVars']>[number];
type ContainerResourceOverride = NonNullable<WorkloadRuntime['containerResources']>[number];

const ProbeRef = builder.objectRef<ProbeSpec>('Probe').implement({
  description: 'An HTTP GET probe of a container.',
  fields: (t) => ({
    path: t.exposeString('path'),
    port: t.int({ nullable: true, description: 'Defaults to the container\'s port.', resolve: (p) => p.port ?? null }),
    initialDelaySeconds: t.int({ nullable: true, resolve: (p) => p.initialDelaySeconds ?? null }),
    periodSeconds: t.int({ nullable: true, resolve: (p) => p.periodSeconds ?? null }),
    timeoutSeconds: t.int({ nullable: true, resolve: (p) => p.timeoutSeconds ?? null }),
    failureThreshold: t.int({ nullable: true, resolve: (p) => p.failureThreshold ?? null }),
  }),
});

const ResourcesRef = builder.objectRef<ResourceSpec>('Resources').implement({
  description: 'Resource requests as Kubernetes quantities.',
  fields: (t) => ({
    cpu: t.string({ nullable: true, resolve: (r) => r.cpu ?? null }),
    memory: t.string({ nullable: true, resolve: (r) => r.memory ?? null }),
  }),
});

const EnvVarRef = builder.objectRef<EnvVar>('EnvironmentVariable').implement({
  fields: (t) => ({ name: t.exposeString('name'), value: t.exposeString('value') }),
});

const ContainerRef = builder.objectRef<ContainerSpec>('Container').implement({
  description: 'One container of a container group.',
  fields: (t) => ({
    name: t.exposeString('name'),
    imageUri: t.exposeString('imageUri'),
    primary: t.exposeBoolean('primary', { description: 'The primary container serves the invoke endpoint and decides readiness.' }),
    port: t.int({ nullable: true, resolve: (c) => c.port ?? null }),
    entrypoint: t.stringList({ resolve: (c) => c.entrypoint ?? [] }),
    environmentVars: t.field({ type: [EnvVarRef], resolve: (c) => c.environmentVars ?? [] }),
    readinessProbe: t.field({ type: ProbeRef, nullable: true, resolve: (c) => c.readinessProbe ?? null }),
    livenessProbe: t.field({ type: ProbeRef, nullable: true, resolve: (c) => c.livenessProbe ?? null }),
    startupProbe: t.field({ type: ProbeRef, nullable: true, resolve: (c) => c.startupProbe ?? null }),
    resources: t.field({ type: ResourcesRef, nullable: true, resolve: (c) => c.resources ?? null }),
  }),
});

const ContainerGroupRef = builder.objectRef<ContainerGroupSpec>('ContainerGroup').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    containers: t.field({ type: [ContainerRef], resolve: (g) => g.containers }),
  }),
});

export const ArtifactSpecRef = builder.objectRef<ArtifactSpec>('ArtifactSpec').implement({
  description: 'What a service artifact runs: one container group, "default".',
  fields: (t) => ({
    containerGroups: t.field({ type: [ContainerGroupRef], resolve: (s) => s.containerGroups }),
  }),
});

const ContainerResourceOverrideRef = builder.objectRef<ContainerResourceOverride>('ContainerResourceOverride').implement({
  fields: (t) => ({
    containerName: t.exposeString('containerName'),
    cpu: t.string({ nullable: true, resolve: (r) => r.cpu ?? null }),
    memory: t.string({ nullable: true, resolve: (r) => r.memory ?? null }),
  }),
});

export const WorkloadRuntimeRef = builder.objectRef<WorkloadRuntime>('WorkloadRuntime').implement({
  description: 'How a workload runs its artifact.',
  fields: (t) => ({
    replicaCount: t.exposeInt('replicaCount'),
    containerResources: t.field({ type: [ContainerResourceOverrideRef], resolve: (r) => r.containerResources ?? [] }),
  }),
});

// Inputs mirror the outputs; their rules live in the domain's schemas, applied by the services.

const ProbeInput = builder.inputType('ProbeInput', {
  fields: (t) => ({
    path: t.string({ required: true, description: textDescription('An absolute path, starting with "/", without whitespace.', 'line', TEXT_LIMITS.probePath) }),
    port: t.int(),
    initialDelaySeconds: t.int(),
    periodSeconds: t.int(),
    timeoutSeconds: t.int(),
    failureThreshold: t.int(),
  }),
});

const ResourcesInput = builder.inputType('ResourcesInput', {
  fields: (t) => ({
    cpu: t.string({ description: textDescription('A Kubernetes quantity, e.g. "500m".', 'line', TEXT_LIMITS.quantity) }),
    memory: t.string({ description: textDescription('A Kubernetes quantity, e.g. "512Mi".', 'line', TEXT_LIMITS.quantity) }),
  }),
});

const EnvVarInput = builder.inputType('EnvironmentVariableInput', {
  fields: (t) => ({
    name: t.string({
      required: true,
      description: textDescription('Letters, digits, "_", "-" or ".", not starting with a digit; unique in the container.', 'line', TEXT_LIMITS.environmentVariableName),
    }),
    value: t.string({ required: true, description: textDescription(undefined, 'multiline', TEXT_LIMITS.environmentVariableValue) }),
  }),
});

const ContainerInput = builder.inputType('ContainerInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: `A DNS label of at most ${TEXT_LIMITS.containerName} characters, unique in its group.` }),
    imageUri: t.string({ required: true, description: textDescription('An OCI image reference.', 'line', TEXT_LIMITS.imageUri) }),
    primary: t.boolean({ required: true, description: 'Exactly one container per group is primary; only it has a port.' }),
    port: t.int({ description: '1024-65535; required on the primary container, refused on others.' }),
    entrypoint: t.stringList({ description: `At most 64 items. Each: ${textDescription(undefined, 'multiline', TEXT_LIMITS.entrypointItem)}` }),
    environmentVars: t.field({ type: [EnvVarInput] }),
    readinessProbe: t.field({ type: ProbeInput }),
    livenessProbe: t.field({ type: ProbeInput }),
    startupProbe: t.field({ type: ProbeInput }),
    resources: t.field({ type: ResourcesInput }),
  }),
});

const ContainerGroupInput = builder.inputType('ContainerGroupInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'Must be "default".' }),
    containers: t.field({ type: [ContainerInput], required: true }),
  }),
});

export const ArtifactSpecInput = builder.inputType('ArtifactSpecInput', {
  fields: (t) => ({
    containerGroups: t.field({ type: [ContainerGroupInput], required: true }),
  }),
});

const ContainerResourceOverrideInput = builder.inputType('ContainerResourceOverrideInput', {
  fields: (t) => ({
    containerName: t.string({ required: true, description: `A container of the artifact (at most ${TEXT_LIMITS.containerName} characters).` }),
    cpu: t.string({ description: textDescription('A Kubernetes quantity, e.g. "500m".', 'line', TEXT_LIMITS.quantity) }),
    memory: t.string({ description: textDescription('A Kubernetes quantity, e.g. "512Mi".', 'line', TEXT_LIMITS.quantity) }),
  }),
});

export const WorkloadRuntimeInput = builder.inputType('WorkloadRuntimeInput', {
  fields: (t) => ({
    replicaCount: t.int({ required: true, description: 'At least 1, at most the configured maximum.' }),
    containerResources: t.field({ type: [ContainerResourceOverrideInput] }),
  }),
});
