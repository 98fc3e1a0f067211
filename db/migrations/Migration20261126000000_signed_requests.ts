import { Migration } from '@mikro-orm/migrations';

// Request signing for hospital systems as well as delivery partners (docs/signing.md, docs/delivery.md):
// one replay store for both, signed_request, replacing partner_update with its rows carried over (an
// update id stays spent after the upgrade); per hospital, its sealed HMAC secrets and its mode (null:
// the engine's default, RX_HOSPITAL_REQUEST_SIGNING). Existing hospitals get no secret and no mode of
// their own, so they keep working unsigned under the default `optional`.
export class Migration20261126000000_signed_requests extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "hospital"
      add column "request_signing" varchar(10) null,
      add column "request_secrets" jsonb not null default '[]'::jsonb,
      add constraint "hospital_request_signing_check" check ("request_signing" in ('off', 'optional', 'required'));`);
    this.addSql(`create table "signed_request" (
      "id" bigserial primary key,
      "party_kind" varchar(20) not null check ("party_kind" in ('partner', 'hospital')),
      "party_id" uuid not null,
      "request_id" varchar(100) not null,
      "signature" char(64) not null,
      "method" varchar(10) not null,
      "path" text not null,
      "received_at" timestamptz not null default now(),
      constraint "signed_request_party_request_unique" unique ("party_kind", "party_id", "request_id"),
      constraint "signed_request_signature_unique" unique ("signature"));`);
    // Pruning deletes a kind's rows older than twice its tolerance.
    this.addSql(`create index "signed_request_kind_received_idx" on "signed_request" ("party_kind", "received_at");`);
    this.addSql(`insert into "signed_request" (party_kind, party_id, request_id, signature, method, path, received_at)
      select 'partner', partner_id, update_id, signature, method, path, received_at from "partner_update" order by id;`);
    this.addSql(`drop table "partner_update";`);
  }

  override async down(): Promise<void> {
    this.addSql(`create table "partner_update" (
      "id" bigserial primary key,
      "partner_id" uuid not null references "delivery_partner" ("id"),
      "update_id" varchar(100) not null,
      "signature" char(64) not null,
      "method" varchar(10) not null,
      "path" text not null,
      "received_at" timestamptz not null default now(),
      constraint "partner_update_partner_update_id_unique" unique ("partner_id", "update_id"),
      constraint "partner_update_signature_unique" unique ("signature"));`);
    this.addSql(`insert into "partner_update" (partner_id, update_id, signature, method, path, received_at)
      select party_id, request_id, signature, method, path, received_at from "signed_request"
      where party_kind = 'partner' and party_id in (select id from "delivery_partner") order by id;`);
    this.addSql(`drop table if exists "signed_request";`);
    this.addSql(`alter table "hospital" drop constraint if exists "hospital_request_signing_check",
      drop column if exists "request_signing", drop column if exists "request_secrets";`);
  }
}
