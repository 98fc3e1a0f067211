import { Migration } from '@mikro-orm/migrations';

// Hospital callbacks. hospital_event is the transactional outbox and the per-hospital event log: one
// CloudEvents envelope per state change a hospital cares about, written in the transaction of the change,
// numbered by hospital_event_counter (a row lock held to commit, so sequence order is commit order and a
// feed reader never skips a late-committing lower number). webhook_endpoint is a hospital's URL and its
// (encrypted) signing secrets; webhook_delivery is one event's delivery to it.
export class Migration20261124020000_hospital_events extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "hospital_event_counter" ("hospital_id" uuid not null primary key references "hospital" ("id"), "last_sequence" bigint not null);`);

    this.addSql(`create table "hospital_event" (
      "id" uuid not null primary key,
      "hospital_id" uuid not null references "hospital" ("id"),
      "sequence" bigint not null,
      "type" varchar(80) not null,
      "subject" varchar(64) not null,
      "prescription_id" uuid null,
      "ordering_key" varchar(120) not null,
      "envelope" jsonb not null,
      "created_at" timestamptz not null default clock_timestamp(),
      constraint "hospital_event_hospital_id_sequence_unique" unique ("hospital_id", "sequence"));`);
    // No foreign key to prescription: refusals have none, and intake writes the event before its row is flushed.
    this.addSql(`create index "hospital_event_prescription_id_index" on "hospital_event" ("prescription_id");`);
    this.addSql(`create function hospital_event_immutable() returns trigger language plpgsql as $$
      begin raise exception 'hospital_event is append-only (% refused)', tg_op; end $$;`);
    this.addSql(`create trigger hospital_event_no_update before update or delete on "hospital_event" for each row execute function hospital_event_immutable();`);

    this.addSql(`create table "webhook_endpoint" (
      "hospital_id" uuid not null primary key references "hospital" ("id"),
      "url" varchar(500) not null,
      "secrets" jsonb not null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now());`);

    this.addSql(`create table "webhook_delivery" (
      "event_id" uuid not null primary key references "hospital_event" ("id"),
      "hospital_id" uuid not null references "hospital" ("id"),
      "ordering_key" varchar(120) not null,
      "sequence" bigint not null,
      "status" varchar(10) not null check ("status" in ('pending', 'delivered', 'failed')),
      "attempts" int not null default 0,
      "redeliveries" int not null default 0,
      "last_attempt_at" timestamptz null,
      "last_status" int null,
      "last_error" varchar(500) null,
      "next_attempt_at" timestamptz null,
      "give_up_at" timestamptz not null,
      "delivered_at" timestamptz null,
      "failed_at" timestamptz null,
      "created_at" timestamptz not null default now());`);
    this.addSql(`create index "webhook_delivery_pending_index" on "webhook_delivery" ("ordering_key", "sequence") where "status" = 'pending';`);
    this.addSql(`create index "webhook_delivery_hospital_index" on "webhook_delivery" ("hospital_id", "status", "sequence" desc);`);
  }
}
