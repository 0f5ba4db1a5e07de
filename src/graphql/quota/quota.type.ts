import type { Viewer } from '../../auth/viewer.js';
import { QuotaExceededError } from '../../domain/errors.js';
import { inApiUnits, QUOTA_RESOURCES, QUOTA_SCOPES, type QuotaResource } from '../../domain/quota.js';
import type { QuotaReport } from '../../service/quota.js';
import { builder } from '../builder.js';
import { ErrorInterface } from '../common/errors.type.js';
import { ImportanceEnum } from '../common/enums.type.js';

const UNITS = 'Workloads and replicas are counted; `cpu` is in cores and `memory` in bytes.';

export const QuotaScopeEnum = builder.enumType('QuotaScope', {
  description: 'Whose usage a quota bounds: a workload counts against its OWNER\'s quota and against the ORGANIZATION it was created in.',
  values: Object.fromEntries(QUOTA_SCOPES.map((v) => [v.toUpperCase(), { value: v }])) as Record<'OWNER' | 'ORGANIZATION', { value: (typeof QUOTA_SCOPES)[number] }>,
});

export const QuotaResourceEnum = builder.enumType('QuotaResource', {
  description:
    'What a quota limits: WORKLOADS (live ones: not terminated, not deleted), REPLICAS, CPU and MEMORY requested (replicas times each container\'s request, ' +
    'with the workload\'s runtime overrides; a container without a request counts as 100m CPU and 128Mi). Stopped workloads request no replicas; ' +
    'a replacement\'s candidate and an old proton kept for rollback count while they exist.',
  values: Object.fromEntries(QUOTA_RESOURCES.map((v) => [v.toUpperCase(), { value: v }])) as Record<Uppercase<QuotaResource>, { value: QuotaResource }>,
});

builder.objectType(QuotaExceededError, {
  name: 'QuotaExceededError',
  description: `The request would take its owner's or organization's usage past a quota; nothing was changed. ${UNITS}`,
  interfaces: [ErrorInterface],
  fields: (t) => ({
    scope: t.field({ type: QuotaScopeEnum, resolve: (e) => e.scope }),
    subject: t.exposeString('subject', { description: 'The owner\'s user id, or the organization\'s name.' }),
    resource: t.field({ type: QuotaResourceEnum, resolve: (e) => e.resource }),
    limit: t.exposeFloat('limit'),
    used: t.exposeFloat('used', { description: 'What is in use now.' }),
    requested: t.exposeFloat('requested', { description: 'What the request would add.' }),
  }),
});

const RESOURCE_DESCRIPTIONS: Record<QuotaResource, string> = {
  workloads: 'Live workloads: not terminated, not deleted (stopped ones count).',
  replicas: 'Replicas requested: of each workload meant to run, plus replacement candidates and old protons not yet removed.',
  cpu: 'CPU requested, in cores: replicas times each container\'s request (100m for a container without one).',
  memory: 'Memory requested, in bytes: replicas times each container\'s request (128Mi for a container without one).',
};

interface UsageOf {
  report: QuotaReport;
  resource: QuotaResource;
}

const QuotaUsageRef = builder.objectRef<UsageOf>('QuotaUsage').implement({
  description: `Usage of one resource against its limit. ${UNITS}`,
  fields: (t) => ({
    used: t.float({ resolve: ({ report, resource }) => inApiUnits(resource, report.used[resource]) }),
    limit: t.float({
      nullable: true,
      description: 'Null when unlimited.',
      resolve: ({ report, resource }) => {
        const limit = report.limits[resource];
        return limit === null ? null : inApiUnits(resource, limit);
      },
    }),
  }),
});

const QuotaRef = builder.objectRef<QuotaReport>('Quota').implement({
  description: 'What an owner or an organization requests of the cluster now, against the configured limits.',
  fields: (t) => ({
    scope: t.field({ type: QuotaScopeEnum, resolve: (r) => r.subject.scope }),
    subject: t.string({ description: 'The owner\'s user id, or the organization\'s name.', resolve: (r) => r.subject.id }),
    ...Object.fromEntries(
      QUOTA_RESOURCES.map((resource) => [
        resource,
        t.field({ type: QuotaUsageRef, description: RESOURCE_DESCRIPTIONS[resource], resolve: (report) => ({ report, resource }) }),
      ]),
    ),
  }),
});

const ViewerRef = builder.objectRef<Viewer>('Viewer').implement({
  description: 'The caller, as its token says, with its quotas.',
  fields: (t) => ({
    userId: t.exposeString('userId'),
    organization: t.string({ nullable: true, resolve: (v) => v.organization }),
    groups: t.exposeStringList('groups'),
    roles: t.exposeStringList('roles', { description: 'Platform roles.' }),
    isPlatformAdmin: t.exposeBoolean('isPlatformAdmin'),
    allowedImportances: t.field({
      type: [ImportanceEnum],
      description: 'The importances the caller may set (HIGH and CRITICAL can be reserved to platform roles by configuration).',
      resolve: (v, _args, ctx) => ctx.services.quotas.allowedImportances(v),
    }),
    quota: t.field({
      type: QuotaRef,
      description: 'Usage of the workloads the caller owns.',
      resolve: (v, _args, ctx) => ctx.services.quotas.report(ctx.em, { scope: 'owner', id: v.userId }),
    }),
    organizationQuota: t.field({
      type: QuotaRef,
      nullable: true,
      description: 'Usage of the workloads created in the caller\'s organization; null without one.',
      resolve: (v, _args, ctx) => (v.organization ? ctx.services.quotas.report(ctx.em, { scope: 'organization', id: v.organization }) : null),
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({ type: ViewerRef, description: 'Who the caller is, what it may set, and its quotas.', resolve: (_root, _args, ctx) => ctx.viewer }),
);
