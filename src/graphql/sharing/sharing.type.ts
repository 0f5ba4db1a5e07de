import { RULEBOOK } from '../../domain/rulebook.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.js';
import type { SharingRole, SubjectType } from '../../domain/model.js';
import { builder } from '../builder.js';
import { ArtifactNode } from '../artifact/artifact.type.js';
import { SharingRoleEnum, SubjectTypeEnum } from '../common/enums.type.js';
import { rawId } from '../common/errors.type.js';
import { reads } from '../common/projection.js';
import { TEXT_LIMITS, textDescription } from '../common/text.js';
import { sharedRolesOfWorkload, WorkloadNode } from '../workload/workload.type.js';

interface GrantShape {
  subjectType: SubjectType;
  subjectId: string;
  role: SharingRole;
  grantedBy: string;
  grantedAt: Date;
}

const SharedRoleRef = builder.objectRef<GrantShape>('SharedRole').implement({
  description: 'A grant of a role to a subject.',
  fields: (t) => ({
    subjectType: t.field({ type: SubjectTypeEnum, resolve: (g) => g.subjectType }),
    subjectId: t.exposeString('subjectId', { description: 'A user id, group name, organization id or platform role.' }),
    role: t.field({ type: SharingRoleEnum, resolve: (g) => g.role }),
    grantedBy: t.exposeString('grantedBy'),
    grantedAt: t.field({ type: 'DateTime', resolve: (g) => g.grantedAt }),
  }),
});

const SharedRoleInput = builder.inputType('SharedRoleInput', {
  fields: (t) => ({
    subjectType: t.field({ type: SubjectTypeEnum, required: true }),
    subjectId: t.string({ required: true, description: textDescription('A user id, group name, organization id or platform role, without surrounding whitespace.', 'line', TEXT_LIMITS.subjectId) }),
    role: t.field({ type: SharingRoleEnum, required: true }),
  }),
});

const UpdateSharedRolesInput = builder.inputType('UpdateSharedRolesInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    roles: t.field({
      type: [SharedRoleInput],
      required: true,
      description: 'The whole new list (at most 100 entries, one per subject, at least one OWNER).',
    }),
  }),
});

builder.objectFields(WorkloadNode, (t) => ({
  sharedRoles: t.field({
    type: [SharedRoleRef],
    description: 'Who holds which role on this workload. Roles propagate to its protons, events and statistics.',
    ...reads(),
    resolve: (w, _args, ctx) => sharedRolesOfWorkload(ctx).load(w.id),
  }),
  viewerRole: t.field({
    type: SharingRoleEnum,
    description: 'The caller\'s effective role: the highest matching grant (OWNER for a platform admin).',
    ...reads(),
    resolve: async (w, _args, ctx) => (await ctx.access.workloadRole.load(w.id)) ?? 'OBSERVER',
  }),
}));

builder.objectFields(ArtifactNode, (t) => ({
  sharedRoles: t.field({
    type: [SharedRoleRef],
    description: 'Who holds which role on this artifact.',
    ...reads(),
    resolve: (a, _args, ctx) => ctx.services.artifacts.sharedRoles(ctx.em, a.id),
  }),
  viewerRole: t.field({
    type: SharingRoleEnum,
    description: 'The caller\'s effective role; OBSERVER when it reads the artifact through a workload that runs it.',
    ...reads(),
    resolve: async (a, _args, ctx) => (await ctx.access.artifactRole.load(a.id)) ?? 'OBSERVER',
  }),
}));

const errors = { types: [ValidationError, NotFoundError, ForbiddenError] };

builder.mutationFields((t) => ({
  updateWorkloadSharedRoles: t.field({
    type: WorkloadNode,
    description: RULEBOOK.updateWorkloadSharedRoles.description,
    errors: { ...errors, dataField: { name: 'workload' } },
    args: { input: t.arg({ type: UpdateSharedRolesInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.workloads.updateSharedRoles(ctx.viewer, rawId(input.id, 'Workload'), input.roles),
  }),
  updateArtifactSharedRoles: t.field({
    type: ArtifactNode,
    description: RULEBOOK.updateArtifactSharedRoles.description,
    errors: { ...errors, dataField: { name: 'artifact' } },
    args: { input: t.arg({ type: UpdateSharedRolesInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.artifacts.updateSharedRoles(ctx.viewer, rawId(input.id, 'Artifact'), input.roles),
  }),
}));
