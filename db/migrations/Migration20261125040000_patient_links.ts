import { Migration } from '@mikro-orm/migrations';

// The patient's side (docs/patient.md). patient_link: one row per signed link (its jti), so a link can be
// listed and revoked; the token itself is never stored (it is re-derivable only with the secret). The
// holder's name is kept for the label the page shows ("家属 李娜（女儿）"), not in the token.
// fulfilment_choice: the patient's delivery-or-pickup choice and address before matching; the address is
// encrypted like the other patient fields (domain/field-crypto.ts, field "address"). A choice is written
// `pending` by the API and becomes `applied` when the workflow accepted it (or `refused`).
// New tables only: an upgrade of a database that holds data needs nothing else.
export class Migration20261125040000_patient_links extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "patient_link" (
      "id" uuid not null primary key,
      "prescription_id" uuid not null references "prescription" ("id"),
      "holder" varchar(10) not null check ("holder" in ('patient', 'family')),
      "holder_name" varchar(60) null,
      "relation" varchar(30) null,
      "issued_by" varchar(120) not null,
      "issued_at" timestamptz not null,
      "expires_at" timestamptz not null,
      "revoked_at" timestamptz null,
      "revoked_by" varchar(120) null,
      "last_used_at" timestamptz null);`);
    this.addSql(`create index "patient_link_prescription_id_index" on "patient_link" ("prescription_id");`);

    this.addSql(`create table "fulfilment_choice" (
      "id" uuid not null primary key,
      "prescription_id" uuid not null references "prescription" ("id"),
      "mode" varchar(10) not null check ("mode" in ('delivery', 'pickup')),
      "address" text null,
      "chosen_by" varchar(120) not null,
      "status" varchar(10) not null default 'pending' check ("status" in ('pending', 'applied', 'refused')),
      "created_at" timestamptz not null default now(),
      "applied_at" timestamptz null);`);
    this.addSql(`create index "fulfilment_choice_prescription_id_index" on "fulfilment_choice" ("prescription_id", "status");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "fulfilment_choice";`);
    this.addSql(`drop table if exists "patient_link";`);
  }
}
