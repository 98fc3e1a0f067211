import { Migration } from '@mikro-orm/migrations';

// Monthly reports select prescriptions by creation time alone; the (status, created_at) index cannot
// serve that, and without this one every report scans the whole table.
export class Migration20261123130000_report_indexes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create index "prescription_created_at_index" on "prescription" ("created_at");`);
  }
}
