import { Migration } from '@mikro-orm/migrations';

// Issue 5, the parcel side (docs/delivery.md): the proof-of-delivery code (a keyed hash only, never the
// code) and its failed tries, the promised window, the ETA and the late flag on each delivery; the
// courier's temperature readings and the cold-chain excursions a pharmacist decides. Deliveries that exist
// already keep nulls: no code (they prove delivery by signature or photo), no window, never flagged late.
export class Migration20261125020000_cold_chain_proof_eta extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "delivery"
      add column "proof_code_hash" varchar(64) null,
      add column "proof_code_failures" int not null default 0 check ("proof_code_failures" >= 0),
      add column "promised_by" timestamptz null,
      add column "eta" timestamptz null,
      add column "distance_km" double precision null,
      add column "late_at" timestamptz null;`);
    this.addSql(`create index "delivery_late_idx" on "delivery" ("promised_by") where "status" in ('assigned', 'picked_up', 'in_transit');`);

    this.addSql(`create table "delivery_temperature" (
      "delivery_id" uuid not null references "delivery" ("id") on delete cascade,
      "sensor_id" varchar(60) not null default '',
      "at" timestamptz not null,
      "celsius" numeric(5,2) not null check ("celsius" between -80 and 80),
      "received_at" timestamptz not null default now(),
      primary key ("delivery_id", "sensor_id", "at"));`);

    this.addSql(`create table "cold_chain_excursion" (
      "id" uuid primary key,
      "delivery_id" uuid not null references "delivery" ("id"),
      "prescription_id" uuid not null references "prescription" ("id"),
      "rule" varchar(20) not null,
      "detail" jsonb not null,
      "first_at" timestamptz not null,
      "last_at" timestamptz not null,
      "status" varchar(10) not null default 'open' check ("status" in ('open', 'continue', 'return')),
      "escalations" int not null default 0,
      "decided_by" varchar(80) null,
      "decided_at" timestamptz null,
      "reason" varchar(300) null,
      "created_at" timestamptz not null default now());`);
    // One open excursion per delivery at a time: a second flag while undecided is the same hold.
    this.addSql(`create unique index "cold_chain_excursion_open_uq" on "cold_chain_excursion" ("delivery_id") where "status" = 'open';`);
    this.addSql(`create index "cold_chain_excursion_status_idx" on "cold_chain_excursion" ("status", "created_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "cold_chain_excursion";`);
    this.addSql(`drop table if exists "delivery_temperature";`);
    this.addSql(`drop index if exists "delivery_late_idx";`);
    this.addSql(`alter table "delivery" drop column if exists "proof_code_hash", drop column if exists "proof_code_failures", drop column if exists "promised_by",
      drop column if exists "eta", drop column if exists "distance_km", drop column if exists "late_at";`);
  }
}
