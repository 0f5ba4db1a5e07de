import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql ships CommonJS and ESM builds; Node gives the libraries the CommonJS one, so the
    // tests' own imports must get it too, or `instanceof GraphQLError` fails across the two.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Each file boots its own embedded or PostgreSQL database: give slow machines room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The console's build (dist-console/), made once before any file runs when it is missing or stale.
    globalSetup: ['test/support/console-build.setup.ts'],
  },
});
