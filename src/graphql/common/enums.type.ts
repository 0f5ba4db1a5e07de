import {
  ARTIFACT_STATUSES,
  IMPORTANCES,
  PROTON_ROLES,
  PROTON_STATUSES,
  REPLACEMENT_STATUSES,
  SHARING_ROLES,
  SUBJECT_TYPES,
  WORKLOAD_STATUSES,
} from '../../domain/model.js';
import { builder } from '../builder.js';

/** A GraphQL enum whose SCREAMING_CASE names map to the domain's lower-case values. */
function domainEnum<const V extends string>(name: string, values: readonly V[], description: string) {
  return builder.enumType(name, {
    description,
    values: Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<Uppercase<V>, { value: V }>,
  });
}

export const WorkloadStatusEnum = domainEnum('WorkloadStatus', WORKLOAD_STATUSES, 'The user-facing status of a workload, derived from its active proton.');
export const ProtonStatusEnum = domainEnum('ProtonStatus', PROTON_STATUSES, 'The status of one proton: the worst state of its replicas.');
export const ProtonRoleEnum = domainEnum('ProtonRole', PROTON_ROLES, 'Whether a proton serves traffic (active) or is coming up beside it (candidate).');
export const ArtifactStatusEnum = domainEnum('ArtifactStatus', ARTIFACT_STATUSES, 'Draft artifacts are mutable; locked ones are immutable and versioned.');
export const ImportanceEnum = domainEnum('Importance', IMPORTANCES, 'A governance and scheduling hint; never changes routing or replica counts.');
export const ReplacementStatusEnum = domainEnum('ReplacementStatus', REPLACEMENT_STATUSES, 'The step a blue/green replacement is at.');
export const SubjectTypeEnum = domainEnum('SubjectType', SUBJECT_TYPES, 'The kind of subject a role is granted to.');
export const SharingRoleEnum = builder.enumType('SharingRole', {
  description: 'OWNER: everything; EDITOR: lifecycle and metadata; OBSERVER: read and subscribe.',
  values: SHARING_ROLES,
});

export const OrderDirectionEnum = builder.enumType('OrderDirection', { values: ['ASC', 'DESC'] as const });
