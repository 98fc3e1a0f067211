import { Migration } from '@mikro-orm/migrations';

// When a prescription's status last changed, on its row: the status writer (activities/audit.ts) reads it
// under the row lock it already holds to time the stage it leaves, instead of asking audit_event for its
// latest status change on every transition. Existing rows get it from their audit trail; new rows from the
// default (intake's insert does not name it).
export class Migration20261125070000_status_changed_at extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "prescription" add column "status_changed_at" timestamptz null default now();`);
    this.addSql(`update "prescription" p set "status_changed_at" = coalesce(
        (select max(a.at) from "audit_event" a where a.prescription_id = p.id and a.to_status is not null), p.created_at);`);
  }
}
