import { Migration } from '@mikro-orm/migrations';

// Hospitals' signing keys move from a jsonb array on the hospital row to their own table: each key has its
// validity window and revocation (when, why, by whom), several can be valid at once for a rotation without
// downtime, and registration/revocation are single-row writes instead of rewriting the array.
export class Migration20261124010000_signing_keys extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "hospital_signing_key" (
      "id" uuid not null default gen_random_uuid(),
      "hospital_id" uuid not null,
      "key_id" varchar(64) not null,
      "alg" varchar(16) not null,
      "public_key_pem" text not null,
      "fingerprint" varchar(64) not null,
      "signer_id" varchar(64) null,
      "valid_from" timestamptz not null,
      "valid_to" timestamptz not null,
      "revoked_at" timestamptz null,
      "revoked_reason" varchar(200) null,
      "revoked_by" varchar(120) null,
      "registered_by" varchar(120) not null,
      "created_at" timestamptz not null default now(),
      constraint "hospital_signing_key_pkey" primary key ("id"),
      constraint "hospital_signing_key_alg_check" check ("alg" in ('ES256', 'SM2-SM3')),
      constraint "hospital_signing_key_window_check" check ("valid_to" > "valid_from"),
      constraint "hospital_signing_key_signer_id_check" check ("signer_id" is null or "alg" = 'SM2-SM3'));`);
    this.addSql(`alter table "hospital_signing_key" add constraint "hospital_signing_key_hospital_id_key_id_unique" unique ("hospital_id", "key_id");`);
    this.addSql(`alter table "hospital_signing_key" add constraint "hospital_signing_key_hospital_id_fingerprint_unique" unique ("hospital_id", "fingerprint");`);
    this.addSql(`alter table "hospital_signing_key" add constraint "hospital_signing_key_hospital_id_foreign" foreign key ("hospital_id") references "hospital" ("id") on update cascade;`);

    // The keys registered so far (the demo hospitals' among them). The fingerprint is SHA-256 over the DER
    // inside the PEM, as the API computes it; a key marked revoked is revoked as of the migration.
    this.addSql(`insert into "hospital_signing_key" ("hospital_id", "key_id", "alg", "public_key_pem", "fingerprint", "valid_from", "valid_to", "revoked_at", "revoked_reason", "revoked_by", "registered_by")
      select h."id", k->>'keyId', k->>'alg', k->>'publicKeyPem',
        encode(sha256(decode(regexp_replace(k->>'publicKeyPem', '-----[A-Z ]+-----|\\s', '', 'g'), 'base64')), 'hex'),
        (k->>'validFrom')::timestamptz, (k->>'validTo')::timestamptz,
        case when coalesce((k->>'revoked')::boolean, false) then now() end,
        case when coalesce((k->>'revoked')::boolean, false) then 'revoked before the key registry existed' end,
        case when coalesce((k->>'revoked')::boolean, false) then 'migration' end,
        'migration:20261124010000'
      from "hospital" h cross join lateral jsonb_array_elements(coalesce(h."signing_keys", '[]'::jsonb)) k
      on conflict do nothing;`);

    // Kept (not dropped) so that older scripts inserting hospital rows still work; nothing reads it.
    this.addSql(`alter table "hospital" alter column "signing_keys" set default '[]'::jsonb;`);
    this.addSql(`comment on column "hospital"."signing_keys" is 'deprecated since 20261124010000: keys live in hospital_signing_key';`);

    // Intake resolves prescription lines by insurance code or approval number as well as by SKU code.
    this.addSql(`create index "drug_insurance_code_index" on "drug" ((data->>'insuranceCode'));`);
    this.addSql(`create index "drug_approval_number_index" on "drug" ((data->>'approvalNumber'));`);
  }
}
