import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents for the operations the tests send, from the committed printed schema.
// Run `npm run codegen` after changing the schema or an operation under test/graphql/operations.
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['test/graphql/operations/**/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    'test/graphql/generated/': {
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
  },
};

export default config;
