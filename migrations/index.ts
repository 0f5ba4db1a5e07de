/**
 * Every migration, in order. The migrator takes this list rather than a glob so that it works
 * the same under tsx, vitest and a bundler; a test fails when a migration file is missing here.
 */
import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261126000000_initial_model } from './Migration20261126000000_initial_model.js';
import { Migration20261126010000_controller_state } from './Migration20261126010000_controller_state.js';
import { Migration20261126030000_request_statistics } from './Migration20261126030000_request_statistics.js';
import { Migration20261202000000_workload_organization } from './Migration20261202000000_workload_organization.js';
import { Migration20261202000000_artifact_in_use } from './Migration20261202000000_artifact_in_use.js';
import { Migration20261203000000_record_round } from './Migration20261203000000_record_round.js';
import { Migration20261203010000_create_workload } from './Migration20261203010000_create_workload.js';
import { Migration20261204000000_quota_usage } from './Migration20261204000000_quota_usage.js';
import { Migration20261204100000_workload_demand } from './Migration20261204100000_workload_demand.js';
import { Migration20261204200000_quota_counters } from './Migration20261204200000_quota_counters.js';
import { Migration20261204300000_create_with_proton } from './Migration20261204300000_create_with_proton.js';
import { Migration20261206000000_create_batch } from './Migration20261206000000_create_batch.js';
import { Migration20261206100000_mirror_unchanged } from './Migration20261206100000_mirror_unchanged.js';
import { Migration20261208000000_create_as_sets } from './Migration20261208000000_create_as_sets.js';
import { Migration20261208100000_round_numbers_events } from './Migration20261208100000_round_numbers_events.js';

export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261126000000_initial_model', class: Migration20261126000000_initial_model },
  { name: 'Migration20261126010000_controller_state', class: Migration20261126010000_controller_state },
  { name: 'Migration20261126030000_request_statistics', class: Migration20261126030000_request_statistics },
  { name: 'Migration20261202000000_artifact_in_use', class: Migration20261202000000_artifact_in_use },
  { name: 'Migration20261202000000_workload_organization', class: Migration20261202000000_workload_organization },
  { name: 'Migration20261203000000_record_round', class: Migration20261203000000_record_round },
  { name: 'Migration20261203010000_create_workload', class: Migration20261203010000_create_workload },
  { name: 'Migration20261204000000_quota_usage', class: Migration20261204000000_quota_usage },
  { name: 'Migration20261204100000_workload_demand', class: Migration20261204100000_workload_demand },
  { name: 'Migration20261204200000_quota_counters', class: Migration20261204200000_quota_counters },
  { name: 'Migration20261204300000_create_with_proton', class: Migration20261204300000_create_with_proton },
  { name: 'Migration20261206000000_create_batch', class: Migration20261206000000_create_batch },
  { name: 'Migration20261206100000_mirror_unchanged', class: Migration20261206100000_mirror_unchanged },
  { name: 'Migration20261208000000_create_as_sets', class: Migration20261208000000_create_as_sets },
  { name: 'Migration20261208100000_round_numbers_events', class: Migration20261208100000_round_numbers_events },
];
