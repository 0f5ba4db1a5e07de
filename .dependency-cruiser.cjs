/**
 * The layering of HOUSE_STYLE.md, checked on the real import graph (`npm run lint`, run by
 * `npm test` through test/layering.test.ts). Arrows point inward: domain depends on nothing of
 * ours. A rule that gets in the way is changed here with a line saying why, never bypassed.
 */
/** Imports that vanish at run time (`import type`, type-only named imports) do not couple layers. */
const runtimeOnly = { dependencyTypesNot: ['type-only'] };

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'src/domain is pure: it imports nothing of ours from outside src/domain.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: '^src/', pathNot: '^src/domain/' },
    },
    {
      name: 'controller-not-service',
      comment: 'The controller drives state; the service asks it, never the other way round.',
      severity: 'error',
      from: { path: '^src/controller/' },
      to: { path: '^src/(service|graphql|transport|invoke)/' },
    },
    {
      name: 'graphql-not-transport-controller',
      comment: 'Resolvers are thin over the service: no transport, controller or runtime.',
      severity: 'error',
      from: { path: '^src/graphql/' },
      to: { path: '^src/(transport|controller|runtime|invoke)/' },
    },
    {
      name: 'graphql-no-store-functions',
      comment: 'GraphQL may name entity types; reading and writing the store is the service\'s job.',
      severity: 'error',
      from: { path: '^src/graphql/' },
      to: { path: '^src/store/', ...runtimeOnly },
    },
    {
      name: 'service-not-runtime',
      comment: 'The service asks the controller; it never calls the runtime itself.',
      severity: 'error',
      from: { path: '^src/service/' },
      to: { path: '^src/(runtime|graphql|transport|invoke)/', ...runtimeOnly },
    },
    {
      name: 'observability-not-transport',
      comment: 'Observability is fed by the transports; it never reaches into them.',
      severity: 'error',
      from: { path: '^src/observability/' },
      to: { path: '^src/transport/' },
    },
    {
      name: 'invoke-not-service',
      comment: 'The invoke path stays off the GraphQL service layer (its own access checks, ADR 0050).',
      severity: 'error',
      from: { path: '^src/invoke/' },
      to: { path: '^src/(service|graphql)/' },
    },
    {
      name: 'runtime-not-store',
      comment: 'Runtime adapters know pods and Deployments, not the database.',
      severity: 'error',
      from: { path: '^src/runtime/' },
      to: { path: '^src/(store|service|controller|graphql|pubsub)/' },
    },
    {
      name: 'adapters-not-each-other',
      comment: 'store, pubsub and runtime depend on the domain, not on each other\'s adapters.',
      severity: 'error',
      from: { path: '^src/(store|pubsub)/' },
      to: { path: '^src/(runtime|service|controller|graphql|transport|invoke)/', ...runtimeOnly },
    },
    {
      name: 'no-circular',
      comment:
        'No import cycles: each module can be understood (and loaded) on its own. MikroORM entities ' +
        'are exempt among themselves: a relation names its target on both sides, and defineEntity ' +
        'resolves them lazily (() => Entity), so the cycle is the data model, not a load order.',
      severity: 'error',
      from: { pathNot: '^src/store/entities/' },
      to: { circular: true, ...runtimeOnly },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves (a typo or a missing package fails here, not at run time).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
