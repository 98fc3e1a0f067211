import { Migration } from '@mikro-orm/migrations';
import { lookupHash } from '../../domain/field-crypto';
import { dataKeyRing } from '../../engine/data-keys';

// A settlement kept the insurance member number in plaintext (to sum a member's deductible and payments
// over the plan year). It now keeps only a keyed hash (HMAC-SHA256 with RX_DATA_HMAC_KEY, as the patient
// lookups do; docs/data-protection.md): the same sums, without the number. Existing rows are hashed here,
// with the process's lookup key, then the plaintext column is dropped.
export class Migration20261125000001_settlement_member_hash extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "settlement" add column "member_hash" char(64) null;`);
    const rows = await this.execute(`select id, member_id from "settlement" where member_id is not null`) as { id: string; member_id: string }[];
    const ring = dataKeyRing();
    for (const r of rows) this.addSql(`update "settlement" set member_hash = '${lookupHash(ring, 'insuranceMember', r.member_id)}' where id = '${r.id}';`);
    this.addSql(`drop index if exists "settlement_member_year_index";`);
    this.addSql(`alter table "settlement" drop column "member_id";`);
    this.addSql(`create index "settlement_member_year_index" on "settlement" ("plan_id", "member_hash", "plan_year");`);
  }

  override async down(): Promise<void> {
    // The numbers cannot be recovered from their hashes: down keeps the hashes in the old column.
    this.addSql(`drop index if exists "settlement_member_year_index";`);
    this.addSql(`alter table "settlement" add column "member_id" varchar(64) null;`);
    this.addSql(`update "settlement" set member_id = member_hash;`);
    this.addSql(`alter table "settlement" drop column "member_hash";`);
    this.addSql(`create index "settlement_member_year_index" on "settlement" ("plan_id", "member_id", "plan_year");`);
  }
}
