import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents for the operations the tests and the console send, from the committed printed
// schema. Run `npm run codegen` after changing the schema, an operation under
// test/graphql/operations or the console's console/src/operations.graphql.
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  ignoreNoDocuments: false,
  generates: {
    'test/graphql/generated/': {
      documents: ['test/graphql/operations/**/*.graphql'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', ID: 'string' },
        documentMode: 'documentNode',
        emitLegacyCommonJSImports: false,
      },
    },
    'console/src/gql/': {
      documents: ['console/src/**/*.graphql'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', ID: 'string' },
        documentMode: 'documentNode',
      },
    },
  },
};

export default config;
