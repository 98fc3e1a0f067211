import { Migration } from '@mikro-orm/migrations';

// Delivery partners as a registry (docs/delivery.md): service area, capabilities, the adapter's endpoint,
// HMAC secrets for signed updates (encrypted with the data keys), active flag, promised windows; the
// partner's reference for each delivery; and the update ids and signatures seen, so a replay is refused
// after a restart too. Partners registered before this serve everywhere with their old flags as
// capabilities, and no secret: they are asked to sign once an operator rotates one for them.
export class Migration20261125010000_delivery_partners extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "delivery_partner"
      add column "service_area" jsonb not null default '{}'::jsonb,
      add column "capabilities" jsonb not null default '[]'::jsonb,
      add column "endpoint_url" text null,
      add column "secrets" jsonb not null default '[]'::jsonb,
      add column "active" boolean not null default true,
      add column "promised_minutes" jsonb not null default '{}'::jsonb,
      add column "full_phone" boolean not null default false,
      add column "updated_at" timestamptz not null default now();`);
    this.addSql(`update "delivery_partner" set
      "service_area" = '{"anywhere": true}'::jsonb,
      "capabilities" = (case when "cold_chain" then '["cold_chain"]'::jsonb else '[]'::jsonb end) || (case when "same_day" then '["same_day"]'::jsonb else '[]'::jsonb end),
      "promised_minutes" = case when "cold_chain" then '{"standard": 120, "cold_chain": 120}'::jsonb else '{"standard": 120}'::jsonb end;`);
    this.addSql(`alter table "delivery" add column "partner_ref" varchar(100) null;`);
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
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "partner_update";`);
    this.addSql(`alter table "delivery" drop column if exists "partner_ref";`);
    this.addSql(`alter table "delivery_partner" drop column if exists "service_area", drop column if exists "capabilities", drop column if exists "endpoint_url",
      drop column if exists "secrets", drop column if exists "active", drop column if exists "promised_minutes", drop column if exists "full_phone", drop column if exists "updated_at";`);
  }
}
