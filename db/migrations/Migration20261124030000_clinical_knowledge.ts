import { Migration } from '@mikro-orm/migrations';

// The automated pre-review's clinical knowledge (catalog/data/clinical, docs/review-checks.md), loaded
// from the versioned files: one row per data set with the version and content hash that is loaded, its
// entries in file order (first match wins for doses), and a history of every load.
export class Migration20261124030000_clinical_knowledge extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "clinical_knowledge_set" (
      "dataset" varchar(40) not null primary key,
      "version" int not null,
      "sha256" varchar(64) not null,
      "entry_count" int not null,
      "meta" jsonb not null,
      "source_file" varchar(200) not null,
      "loaded_at" timestamptz not null default now());`);
    this.addSql(`create table "clinical_knowledge_entry" (
      "dataset" varchar(40) not null references "clinical_knowledge_set" ("dataset") on delete cascade,
      "entry_id" varchar(80) not null,
      "position" int not null,
      "version" int not null,
      "severity" varchar(10) null,
      "data" jsonb not null,
      primary key ("dataset", "entry_id"));`);
    this.addSql(`create table "clinical_knowledge_load" (
      "id" bigserial primary key,
      "dataset" varchar(40) not null,
      "version" int not null,
      "sha256" varchar(64) not null,
      "previous_version" int null,
      "entry_count" int not null,
      "loaded_at" timestamptz not null default now());`);
  }
}
