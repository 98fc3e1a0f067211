import { Migration } from '@mikro-orm/migrations';

// Field-level encryption of the patient's national ID number, phone and address (docs/data-protection.md).
// The columns widen to text for the `enc:<version>:…` values and the patient gets its address and keyed
// hashes for lookups. Rows stored before this stay readable as plaintext until
// `node --import tsx engine/data-keys-cli.ts rotate` encrypts them (it also re-encrypts under a new key).
export class Migration20261124100001_patient_encryption extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "patient" alter column "phone" type text, alter column "id_number" type text,
      add column "address" text null, add column "id_number_hash" varchar(64) null, add column "phone_hash" varchar(64) null,
      add column "erased_at" timestamptz null;`);
    this.addSql(`create index "patient_id_number_hash_index" on "patient" ("id_number_hash");`);
    this.addSql(`create index "patient_phone_hash_index" on "patient" ("phone_hash");`);
    // Existing patients take the address of their latest prescription (plaintext until the rotate command runs).
    this.addSql(`update "patient" pt set address = (select (p.content->'patient'->'address')::text from "prescription" p
      where p.patient_id = pt.id order by p.created_at desc limit 1) where address is null;`);
  }
}
