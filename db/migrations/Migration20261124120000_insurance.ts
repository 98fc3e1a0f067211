import { Migration } from '@mikro-orm/migrations';

// Insurance as data (docs/insurance.md): the versioned policy tables per region, loaded from
// catalog/data/insurance; the settlement keeps who it was for and what it used of the year (so the next
// prescription's deductible and cap start from there); a reversal is its own record, never an edit.
export class Migration20261124120000_insurance extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "insurance_policy" (
      "region" varchar(20) not null,
      "version" int not null,
      "effective_from" date not null,
      "effective_to" date null,
      "title" varchar(200) null,
      "plans" jsonb not null,
      "drug_list" jsonb not null,
      "commercial_plans" jsonb not null,
      "sha256" varchar(64) not null,
      "source_file" varchar(200) not null,
      "loaded_at" timestamptz not null default now(),
      primary key ("region", "version"),
      check ("effective_to" is null or "effective_to" > "effective_from"));`);
    this.addSql(`alter table "settlement"
      add column "member_id" varchar(40) null,
      add column "plan_year" int null,
      add column "policy_version" int null,
      add column "visit_type" varchar(20) null,
      add column "commercial_plan_id" varchar(40) null,
      add column "commercial_pays_fen" int not null default 0,
      add column "deductible_applied_fen" int not null default 0,
      add column "engine" varchar(10) not null default 'rules';`);
    this.addSql(`create index "settlement_member_year_index" on "settlement" ("plan_id", "member_id", "plan_year");`);
    this.addSql(`create table "settlement_reversal" (
      "id" uuid not null primary key default gen_random_uuid(),
      "settlement_id" uuid not null unique references "settlement" ("id") deferrable initially deferred,
      "prescription_id" uuid not null references "prescription" ("id") deferrable initially deferred,
      "reason" varchar(40) not null,
      "actor" varchar(120) not null,
      "total_fen" int not null,
      "insurer_pays_fen" int not null,
      "commercial_pays_fen" int not null,
      "patient_pays_fen" int not null,
      "lines" jsonb not null,
      "created_at" timestamptz not null default now());`);
  }
}
