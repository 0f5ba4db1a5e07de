import type { GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import { guardAbstractTypes } from './common/readable.js';
import './common/scalars.js';
import './common/errors.type.js';
import './common/enums.type.js';
import './artifact/artifact-spec.type.js';
import './artifact/artifact.type.js';
import './proton/proton.type.js';
import './event/event.type.js';
import './workload/workload.type.js';
import './workload/lifecycle.mutation.js';
import './workload/replacement.type.js';
import './proton/replica.type.js';
import './sharing/sharing.type.js';
import './subscription/workload.subscription.js';
import './statistics/statistics.type.js';
import './quota/quota.type.js';

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

/** The whole schema, sorted so that its printed form is stable. */
export function buildSchema(): GraphQLSchema {
  return guardAbstractTypes(builder.toSchema({ sortSchema: true }));
}
