// Configuration for the MikroORM CLI (`npm run migration:create`, `npm run migration:up`).
// The application itself opens the database through `openOrm` in ./orm.ts.
import { defineConfig } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { migrationsList } from '../../migrations/index.js';
import { entities } from './entities/index.js';

export default defineConfig({
  entities,
  extensions: [Migrator],
  clientUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  migrations: { path: './migrations', pathTs: './migrations', migrationsList, snapshot: false, emit: 'ts' },
});
