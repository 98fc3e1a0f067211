import { Migration } from '@mikro-orm/migrations';

// Follow-up as a subsystem (docs/follow-up.md): a follow-up step keeps the patient's answer and when it was
// reminded, answered or closed; a reported side effect opens an ADR task for the pharmacists; a refill
// answered "continue" is a renewal request to the hospital. Steps written before keep their kinds and
// statuses (scheduled, sent), which stay valid.
export class Migration20261125030000_follow_up extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "follow_up"
      add column "why" varchar(200) null,
      add column "reminded_at" timestamptz null,
      add column "answered_at" timestamptz null,
      add column "answered_by" varchar(80) null,
      add column "questionnaire" varchar(10) null,
      add column "answer" jsonb null,
      add column "closed_at" timestamptz null;`);
    this.addSql(`alter table "follow_up" add constraint "follow_up_status_check" check ("status" in ('scheduled', 'sent', 'answered', 'unanswered', 'closed'));`);

    this.addSql(`create table "adr_task" (
      "id" uuid not null default gen_random_uuid(),
      "prescription_id" uuid not null,
      "follow_up_id" uuid not null,
      "severity" varchar(10) not null check ("severity" in ('mild', 'moderate', 'severe')),
      "serious" boolean not null,
      "serious_criteria" jsonb not null default '[]',
      "rank" int not null,
      "reaction" varchar(60) not null,
      "onset_date" date not null,
      "status" varchar(10) not null default 'open' check ("status" in ('open', 'claimed', 'closed')),
      "claimed_by" varchar(40) null,
      "claimed_at" timestamptz null,
      "closed_by" varchar(40) null,
      "closed_at" timestamptz null,
      "note" text null,
      "new_reaction" boolean not null default false,
      "created_at" timestamptz not null default now(),
      constraint "adr_task_pkey" primary key ("id"),
      constraint "adr_task_follow_up_id_unique" unique ("follow_up_id"));`);
    this.addSql(`create index "adr_task_queue_index" on "adr_task" ("status", "rank" desc, "created_at");`);
    this.addSql(`create index "adr_task_serious_index" on "adr_task" ("created_at") where "serious";`);
    this.addSql(`alter table "adr_task" add constraint "adr_task_prescription_id_fk" foreign key ("prescription_id") references "prescription" ("id") deferrable initially deferred;`);
    this.addSql(`alter table "adr_task" add constraint "adr_task_follow_up_id_fk" foreign key ("follow_up_id") references "follow_up" ("id") deferrable initially deferred;`);

    this.addSql(`create table "renewal_request" (
      "id" uuid not null default gen_random_uuid(),
      "prescription_id" uuid not null,
      "follow_up_id" uuid not null,
      "status" varchar(10) not null default 'requested' check ("status" in ('requested', 'renewed')),
      "renewed_by_id" uuid null,
      "note" varchar(500) null,
      "created_at" timestamptz not null default now(),
      constraint "renewal_request_pkey" primary key ("id"),
      constraint "renewal_request_follow_up_id_unique" unique ("follow_up_id"));`);
    this.addSql(`create index "renewal_request_prescription_id_index" on "renewal_request" ("prescription_id");`);
    this.addSql(`alter table "renewal_request" add constraint "renewal_request_prescription_id_fk" foreign key ("prescription_id") references "prescription" ("id") deferrable initially deferred;`);
    this.addSql(`alter table "renewal_request" add constraint "renewal_request_follow_up_id_fk" foreign key ("follow_up_id") references "follow_up" ("id") deferrable initially deferred;`);
    this.addSql(`alter table "renewal_request" add constraint "renewal_request_renewed_by_id_fk" foreign key ("renewed_by_id") references "prescription" ("id") deferrable initially deferred;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "renewal_request";`);
    this.addSql(`drop table if exists "adr_task";`);
    this.addSql(`alter table "follow_up" drop constraint if exists "follow_up_status_check";`);
    this.addSql(`alter table "follow_up" drop column "why", drop column "reminded_at", drop column "answered_at", drop column "answered_by", drop column "questionnaire", drop column "answer", drop column "closed_at";`);
  }
}
