import type { CodegenConfig } from '@graphql-codegen/cli';

// Paths are relative to this package; `npm run codegen` runs from here, and the staleness test passes
// `cwd` explicitly. Output is ESM with `.js` specifiers and type-only imports, so it compiles under the
// repository's NodeNext + verbatimModuleSyntax settings.
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['src/operations/**/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    'src/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        emitLegacyCommonJSImports: false,
        useTypeImports: true,
        enumsAsTypes: true,
        documentMode: 'documentNode',
        scalars: {
          Seq: 'number',
          DateTime: 'string',
          JSON: 'unknown',
        },
      },
    },
  },
};

export default config;
