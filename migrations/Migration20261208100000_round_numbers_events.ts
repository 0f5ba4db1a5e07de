import { Migration } from '@mikro-orm/migrations';
import { recordRoundFunction } from './Migration20261203000000_record_round.js';

/**
 * A round numbers its own events (ADR 0005, decision 30): `workload_record_round` raises the
 * workload row's last event number by the round's events in the update of the row it makes
 * anyway (or, when the round changes nothing else, in an update of that number alone) and inserts
 * the events with their numbers, which the event trigger checks (migration
 * Migration20261208000000_create_as_sets) instead of updating the row once per event.
 */
export class Migration20261208100000_round_numbers_events extends Migration {
  override async up(): Promise<void> {
    this.addSql(recordRoundFunction(true));
  }

  override async down(): Promise<void> {
    this.addSql(recordRoundFunction(false));
  }
}
